/* The latent explorer of the Latent space page: no framework, nothing from other hosts, no model.
 *
 * Each <div class="latent-explorer" data-explorer="assets/explorer/<dataset>"> names a folder
 * written by `python -m vae report` (code/vae/explorer.py): explorer.json describes the sprites.
 * The script only looks images up: the decoded image at the pointer is the cell of the
 * pre-decoded grid nearest to the pointer's z. Without JavaScript the container's own content
 * (a pointer to the static manifold figure) stays.
 */
(function () {
  "use strict";

  // Tableau 10: distinguishable on Material's light and dark backgrounds alike.
  const CLASS_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  const DECODED_SCALE = 10;     // 28 px cells drawn at 280 px, each pixel a crisp 10 x 10 block
  const PICK_RADIUS_PX = 12;    // a click this close to a test point selects it
  const FRAME_INTERVAL_MS = 900;

  function element(tag, className, attributes) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    Object.entries(attributes || {}).forEach(([key, value]) => node.setAttribute(key, value));
    return node;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error("cannot load " + url));
      image.src = url;
    });
  }

  function siteBase() {
    const config = document.getElementById("__config");   // Material's page configuration
    const base = config ? JSON.parse(config.textContent).base : ".";
    return new URL(base.replace(/\/?$/, "/"), window.location.href);
  }

  function themeColor(node, name, fallback) {
    return getComputedStyle(node).getPropertyValue(name).trim() || fallback;
  }

  /* A canvas sized to its CSS box at the screen's pixel density; returns its context in CSS px. */
  function fitCanvas(canvas) {
    const box = canvas.getBoundingClientRect();
    if (box.width === 0) return null;   // inside a hidden tab: drawn again when it is shown
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(box.width * ratio);
    canvas.height = Math.round(box.height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { context, width: box.width, height: box.height };
  }

  function drawCell(context, sprite, columns, index, x, y, size) {
    const column = index % columns, row = Math.floor(index / columns);
    context.imageSmoothingEnabled = false;
    context.drawImage(sprite, column * 28, row * 28, 28, 28, x, y, size, size);
  }

  /* A scatter of latent points on the square [-extent, extent]^2, integer ticks, optional marks. */
  function drawPlane(canvas, extent, z, labels, marks) {
    const fitted = fitCanvas(canvas);
    if (!fitted) return;
    const { context, width } = fitted;
    const fg = themeColor(canvas, "--md-default-fg-color", "#000");
    const toPx = (value, flip) => ((flip ? -value : value) + extent) / (2 * extent) * width;
    context.fillStyle = themeColor(canvas, "--md-default-bg-color", "#fff");
    context.fillRect(0, 0, width, width);
    context.strokeStyle = themeColor(canvas, "--md-default-fg-color--lightest", "#ddd");
    context.fillStyle = themeColor(canvas, "--md-default-fg-color--light", "#666");
    context.font = "11px system-ui, sans-serif";
    context.lineWidth = 1;
    for (let tick = Math.ceil(-extent); tick <= extent; tick++) {
      const p = toPx(tick, false), q = toPx(tick, true);
      context.beginPath();
      context.moveTo(p, 0); context.lineTo(p, width); context.moveTo(0, q); context.lineTo(width, q);
      context.stroke();
      if (tick !== 0 && Math.abs(tick) < extent - 0.75) {   // the outermost ticks would hit the axis names
        context.fillText(String(tick), p + 2, width - 4);
        context.fillText(String(tick), 3, q - 2);
      }
    }
    context.fillText("z\u2081 \u2192", width - 34, width - 4);
    context.fillText("\u2191 z\u2082", 3, 12);
    context.globalAlpha = 0.85;
    for (let n = 0; n < labels.length; n++) {
      context.fillStyle = CLASS_COLORS[labels[n] % CLASS_COLORS.length];
      context.beginPath();
      context.arc(toPx(z[2 * n], false), toPx(z[2 * n + 1], true), 2.5, 0, 2 * Math.PI);
      context.fill();
    }
    context.globalAlpha = 1;
    context.strokeStyle = fg;
    context.lineWidth = 1.5;
    (marks || []).forEach(([z1, z2, ring]) => {
      const x = toPx(z1, false), y = toPx(z2, true);
      context.beginPath();
      if (ring) context.arc(x, y, 6, 0, 2 * Math.PI);
      else { context.moveTo(x - 8, y); context.lineTo(x + 8, y); context.moveTo(x, y - 8); context.lineTo(x, y + 8); }
      context.stroke();
    });
  }

  function legend(classes) {
    const list = element("ul", "lx-legend", { "aria-label": "classes" });
    classes.forEach((name, index) => {
      const item = element("li");
      const swatch = element("span", "lx-swatch", { "aria-hidden": "true" });
      swatch.style.background = CLASS_COLORS[index % CLASS_COLORS.length];
      item.append(swatch, name);
      list.append(item);
    });
    return list;
  }

  function explorerElements(classes) {
    const ui = {
      plane: element("canvas", "lx-plane", { tabindex: "0", role: "application",
        "aria-label": "Latent plane: move the pointer or use the arrow keys; "
                      + "click or press Enter to pick a test image" }),
      decoded: element("canvas", "lx-decoded", { width: 28 * DECODED_SCALE, height: 28 * DECODED_SCALE,
        role: "img", "aria-label": "decoded image at the current z" }),
      readout: element("p", "lx-z", { "aria-live": "polite" }),
      pair: element("div", "lx-pair"),
      original: element("canvas", "lx-original", { width: 28 * 5, height: 28 * 5, role: "img" }),
      reconstruction: element("canvas", "lx-reconstruction", { width: 28 * 5, height: 28 * 5, role: "img",
        "aria-label": "its reconstruction" }),
      pairCaption: element("p", "lx-pair-caption"),
      app: element("div", "lx-explorer"),
    };
    ui.pair.append(ui.original, ui.reconstruction, ui.pairCaption);
    ui.pair.hidden = true;
    const left = element("div", "lx-column"), right = element("div", "lx-column lx-side");
    left.append(ui.plane, legend(classes));
    right.append(ui.decoded, ui.readout, ui.pair);
    ui.app.append(left, right);
    return ui;
  }

  /* The explorer proper: the plane, the decoded image at the pointer, and a selected test point. */
  function buildExplorer(root, spec, images) {
    const grid = spec.grid, points = spec.points, n = grid.size, extent = spec.extent;
    const ui = explorerElements(spec.classes);
    const state = { row: Math.floor(n / 2), column: Math.floor(n / 2), selected: null };
    const redraw = () => {
      const marks = [[grid.z1[state.column], grid.z2[state.row], false]];
      if (state.selected !== null) marks.push([points.z[2 * state.selected], points.z[2 * state.selected + 1], true]);
      drawPlane(ui.plane, extent, points.z, points.labels, marks);
    };
    const show = (row, column) => {
      state.row = Math.max(0, Math.min(n - 1, row));
      state.column = Math.max(0, Math.min(n - 1, column));
      drawCell(ui.decoded.getContext("2d"), images.grid, n, state.row * n + state.column, 0, 0, ui.decoded.width);
      root.dataset.row = state.row;
      root.dataset.column = state.column;
      ui.readout.textContent = `z = (${grid.z1[state.column].toFixed(2)}, ${grid.z2[state.row].toFixed(2)})`;
      redraw();
    };
    const select = (index) => {
      state.selected = index;
      ui.pair.hidden = index === null;
      if (index !== null) {
        const name = spec.classes[points.labels[index]];
        drawCell(ui.original.getContext("2d"), images.originals, points.columns, index, 0, 0, ui.original.width);
        drawCell(ui.reconstruction.getContext("2d"), images.reconstructions, points.columns, index, 0, 0,
                 ui.reconstruction.width);
        ui.pairCaption.textContent = `test image ${index + 1} (${name}) and its reconstruction`;
        ui.original.setAttribute("aria-label", `test image ${index + 1}, ${name}`);
      }
      redraw();
    };
    listen(ui.plane, spec, state, show, select);
    new ResizeObserver(redraw).observe(ui.plane);
    show(state.row, state.column);
    return { element: ui.app, redraw };
  }

  /* Pointer (mouse, pen, finger) and keys over the plane: `show` a grid cell, `select` a test point. */
  function listen(plane, spec, state, show, select) {
    const grid = spec.grid, points = spec.points, n = grid.size, extent = spec.extent;
    const zAt = (event) => {
      const box = plane.getBoundingClientRect();
      return [-extent + 2 * extent * (event.clientX - box.left) / box.width,
              extent - 2 * extent * (event.clientY - box.top) / box.height, box.width];
    };
    const nearestCell = (z1, z2) => [Math.round((extent - z2) / (2 * extent) * (n - 1)),
                                     Math.round((z1 + extent) / (2 * extent) * (n - 1))];
    const nearestPoint = (z1, z2, radius) => {
      let best = null, bestDistance = radius * radius;
      for (let k = 0; k < points.count; k++) {
        const d = (points.z[2 * k] - z1) ** 2 + (points.z[2 * k + 1] - z2) ** 2;
        if (d < bestDistance) { best = k; bestDistance = d; }
      }
      return best;
    };
    const follow = (event) => { const [z1, z2] = zAt(event); show(...nearestCell(z1, z2)); };
    plane.addEventListener("pointermove", follow);
    plane.addEventListener("pointerdown", (event) => {
      follow(event);
      const [z1, z2, widthPx] = zAt(event);
      const picked = nearestPoint(z1, z2, PICK_RADIUS_PX * 2 * extent / widthPx);
      if (picked !== null) select(picked);
    });
    plane.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? 4 : 1;
      const moves = { ArrowLeft: [0, -step], ArrowRight: [0, step], ArrowUp: [-step, 0], ArrowDown: [step, 0] };
      if (moves[event.key]) show(state.row + moves[event.key][0], state.column + moves[event.key][1]);
      else if (event.key === "Enter" || event.key === " ")
        select(nearestPoint(grid.z1[state.column], grid.z2[state.row], 4 * extent / n));
      else if (event.key === "Escape") select(null);
      else return;
      event.preventDefault();
    });
  }

  /* Training as it evolves: the scatter and the same prior z decoded at every epoch. */
  function buildEvolution(root, spec, images) {
    const frames = spec.frames, last = frames.epochs.length - 1;
    const perRow = 8, rows = Math.ceil(frames.samples / perRow);
    const plane = element("canvas", "lx-plane lx-frame-plane", { role: "img" });
    const samples = element("canvas", "lx-samples", { width: perRow * 28, height: rows * 28, role: "img" });
    const slider = element("input", "lx-epoch", { type: "range", min: "0", max: String(last), step: "1",
      value: String(last), "aria-label": "epoch" });
    const label = element("output", "lx-epoch-label", { "aria-live": "polite" });
    const play = element("button", "md-button lx-play", { type: "button", "aria-pressed": "false" });
    play.textContent = "Play";
    const controls = element("div", "lx-controls");
    controls.append(play, slider, label);
    const panels = element("div", "lx-explorer");
    const left = element("div", "lx-column"), right = element("div", "lx-column lx-side");
    left.append(plane);
    right.append(samples, controls);
    panels.append(left, right);
    const app = element("div", "lx-evolution");
    app.append(panels);

    const draw = () => {
      const index = Number(slider.value), epoch = frames.epochs[index];
      const z = frames.points[index];
      drawPlane(plane, frames.extent, z, spec.points.labels.slice(0, z.length / 2));
      const context = samples.getContext("2d");
      for (let k = 0; k < frames.samples; k++)
        drawCell(context, images.frames, frames.samples, index * frames.samples + k,
                 (k % perRow) * 28, Math.floor(k / perRow) * 28, 28);
      label.textContent = `epoch ${epoch} of ${frames.epochs[last]}` + (epoch === 0 ? " (untrained)" : "");
      plane.setAttribute("aria-label", `test images at their latent means, epoch ${epoch}`);
      samples.setAttribute("aria-label", `${frames.samples} images decoded from the same prior z, epoch ${epoch}`);
      root.dataset.epoch = epoch;
    };
    let timer = null;
    const stop = () => {
      clearInterval(timer);
      timer = null;
      play.textContent = "Play";
      play.setAttribute("aria-pressed", "false");
    };
    play.addEventListener("click", () => {
      if (timer !== null) return stop();
      play.textContent = "Pause";
      play.setAttribute("aria-pressed", "true");
      if (Number(slider.value) === last) { slider.value = "0"; draw(); }
      const advance = () => { slider.value = String((Number(slider.value) + 1) % (last + 1)); draw(); };
      timer = setInterval(advance, FRAME_INTERVAL_MS);
    });
    slider.addEventListener("input", () => { stop(); draw(); });
    new ResizeObserver(draw).observe(plane);
    draw();
    return { element: app, redraw: draw };
  }

  async function start(root) {
    const folder = new URL(root.dataset.explorer.replace(/\/?$/, "/"), siteBase());
    const spec = await (await fetch(new URL("explorer.json", folder))).json();
    const names = { grid: spec.grid.sprite, originals: spec.points.originals,
                    reconstructions: spec.points.reconstructions };
    if (spec.frames) names.frames = spec.frames.sprite;
    const images = {};
    await Promise.all(Object.entries(names).map(async ([key, file]) => {
      images[key] = await loadImage(new URL(file, folder));
    }));
    const parts = [buildExplorer(root, spec, images)];
    if (spec.frames) parts.push(buildEvolution(root, spec, images));
    root.classList.add("is-live");
    parts.forEach((part) => root.append(part.element));
    parts.forEach((part) => part.redraw());
    // Material switches palettes by an attribute on <body>: redraw the canvases in the new colours.
    new MutationObserver(() => parts.forEach((part) => part.redraw()))
      .observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
    root.dataset.ready = "true";
  }

  function startAll() {
    document.querySelectorAll(".latent-explorer[data-explorer]").forEach((root) => {
      start(root).catch((error) => {
        root.dataset.ready = "failed";   // the static fallback stays
        console.error("latent explorer:", error);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
