// The table of contents of the print page (mkdocs-print-site-plugin, `make pdf`). The plugin's
// own generate_toc() copies Material's right-hand table of contents, which `toc.integrate`
// (mkdocs.yml) removes, so its contents page would stay empty. This one, loaded after the
// plugin's script, replaces it: the parts and their chapters, each a link to its section.
// The plugin calls it once per page it joins, so it rebuilds the list each time.
function generate_toc() {
  const nav = document.querySelector("#print-page-toc nav");
  if (!nav) return;
  const parts = document.createElement("ul");
  let chapters = parts;
  document.querySelectorAll("#print-site-page section.print-page[id]").forEach((section) => {
    const heading = section.querySelector("h1");
    if (!heading) return;
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#" + section.id;
    link.textContent = heading.textContent.replace("¶", "").trim();
    item.append(link);
    if (section.classList.contains("md-section")) {       // a part: Method, Results, ...
      chapters = document.createElement("ul");
      item.append(chapters);
      parts.append(item);
    } else {
      chapters.append(item);
    }
  });
  nav.querySelectorAll(":scope > ul").forEach((old) => old.remove());
  nav.append(parts);
}
