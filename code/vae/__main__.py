import sys

try:
    from .cli import main
except (ImportError, OSError, MemoryError) as err:
    # torch (imported by the commands) cannot load: most often too little memory for its libraries
    # (`ulimit -v` under 2.5 GB), else a broken install. One line, not an import traceback.
    first = (str(err).splitlines() or [type(err).__name__])[0][:200]
    print(f"python -m vae: error: cannot load the project's libraries ({first}); if memory is limited "
          "(ulimit -v), allow this process at least 4 GB, else reinstall with `make install`", file=sys.stderr)
    sys.exit(1)

sys.exit(main())
