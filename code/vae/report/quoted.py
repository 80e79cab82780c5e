"""Numbers quoted from elsewhere: the one place in the code that holds values this report did not
compute. Each entry names its source; the report writes them to tables/quoted.json, marked as
quoted, and the pages and tables read them from there."""

from __future__ import annotations

from typing import Any

QUOTED: dict[str, dict[str, Any]] = {
    "burda_2015": {
        "source": "Burda, Grosse & Salakhutdinov (2015), Importance Weighted Autoencoders, table 1",
        "setting": "dynamically binarized MNIST, one stochastic layer of 50 units, 784-200-200-50 tanh MLP, "
                   "test -log p(x) estimated with k = 5000 on the 10,000 test images",
        "passes": 3280,          # epochs of their schedule: 3^i epochs at lr 10^(-i/7), i = 0..7
        "k_eval": 5000,
        "test_images": 10_000,
        "nll": {"vae": 86.76, "iwae_k5": 85.54, "iwae_k50": 84.78},
    },
    "seed_000": {
        "source": "seed report 000: the course report this project reproduces (the same ConvVAE and "
                  "settings, trained on a CPU)",
        "val_elbo": [166.6079, 157.6834, 154.2295, 152.5510, 151.5376,
                     149.6207, 149.2737, 149.1837, 148.2316, 148.2099],
        "test_elbo": 147.870,
        "test_recon": 141.483,     # its test −ELBO split in its two terms, as printed beside it
        "test_kl": 6.387,
    },
}

BURDA_LABELS = {"vae": "VAE", "iwae_k5": "IWAE, k = 5", "iwae_k50": "IWAE, k = 50"}


def quoted_record() -> dict[str, Any]:
    """tables/quoted.json: every quoted value with its source, marked as quoted."""
    return {"quoted": True, "note": "values quoted from the sources named, not computed by this report",
            **QUOTED}
