// A table or a code block wider than the screen scrolls inside its own box. A box that scrolls
// must be reachable by keyboard (WCAG 2.1.1), so it gets a place in the tab order and a name;
// boxes that do not scroll stay out of the tab order. Runs after Material has wrapped the tables.
(function () {
  var BOXES = ".md-typeset__scrollwrap, .md-code__content, .highlight-ipynb, .jp-OutputArea-output pre, .jp-RenderedHTMLCommon";

  function update() {
    document.querySelectorAll(BOXES).forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1 &&
        ["auto", "scroll"].indexOf(getComputedStyle(box).overflowX) >= 0;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", box.querySelector("table") ? "table, scrolls sideways" : "code, scrolls sideways");
        box.dataset.scrollFocus = "";
      } else if (!scrolls && box.dataset.scrollFocus !== undefined) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
        delete box.dataset.scrollFocus;
      }
    });
  }

  document$.subscribe(update);
  window.addEventListener("resize", update);
  // Showing another content tab can reveal a box that scrolls.
  document.addEventListener("change", function (event) {
    if (event.target.matches(".tabbed-set > input")) update();
  });
})();
