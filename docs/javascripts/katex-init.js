// Render math with the vendored KaTeX (no network). Two kinds of math reach the browser:
//  - Markdown pages: pymdownx.arithmatex (generic) wraps it as <span class="arithmatex">\( ... \)</span>
//    or <div class="arithmatex">\[ ... \]</div>;
//  - notebook pages (mkdocs-jupyter): Markdown cells and outputs keep the $...$ / $$...$$ of the source.
(function () {
  var base = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true }
  ];
  var notebook = [
    { left: "$$", right: "$$", display: true },
    { left: "$", right: "$", display: false }
  ].concat(base);

  function render(root) {
    if (typeof renderMathInElement !== "function") return;
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      renderMathInElement(el, { delimiters: base, throwOnError: false });
    });
    root.querySelectorAll(".jupyter-wrapper .jp-RenderedMarkdown, .jupyter-wrapper .jp-RenderedHTMLCommon")
      .forEach(function (el) {
        renderMathInElement(el, { delimiters: notebook, throwOnError: false });
      });
  }

  if (typeof document$ !== "undefined") {
    // Material for MkDocs: runs on first load and after every instant navigation.
    document$.subscribe(function () { render(document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { render(document.body); });
  }
})();
