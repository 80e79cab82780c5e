/* The latent explorer of the Latent space page: no framework, nothing from other hosts.
 *
 * Each <div class="latent-explorer" data-explorer="assets/runs/<run>/explorer"> names a folder
 * written by the report (code/vae/explorer.py): explorer.json, the model's weights (model.bin),
 * the first test images (originals.png) and the training's epoch frames (frames.png). The model
 * runs here (vae-model.js): what the reader draws is framed as the training images are, encoded
 * into q(z|x), and decoded; any point of the plane is decoded where the pointer is. Colours and
 * grey levels are the figures' own (explorer.json `look`, from code/vae/figures.py). Without
 * JavaScript the container's own content (a pointer to the static figures) stays. A missing or
 * malformed explorer.json or model file (vae-model.js `check`: its length, its finiteness) puts
 * the reason in the page in its place (`.lx-error`), and the explorer never reports itself ready.
 * Where the test images are filled silhouettes (Fashion-MNIST; measured from originals.png), a
 * drawn outline is nothing like them: a hint says so, Fill closes and fills new strokes in their
 * grey, and garment shapes can start a drawing. Plain strokes are the same input either way.
 * Every text it shows, aria-labels and errors included, is in the page's language (TEXT below).
 *
 * For tests and the curious, each container's `explorer` property holds what is shown: the
 * encoder's input, mu, logvar, the reconstruction, the sample, the pointer's decode, the
 * interpolation and the measured encode and decode times.
 */
(function () {
  "use strict";

  const PICK_RADIUS_PX = 12;     // a click this close to a test point loads it
  const FRAME_INTERVAL_MS = 900;
  const RASTER = 280;            // drawings are rasterized at 10 x 28 px before framing
  const PEN = 1 / 12;            // pen width, a fraction of the pad's width (about 2.3 of 28 pixels)
  const STEPS = 10;              // decodes on the line between two inputs' means, both ends included
  const TIMINGS_KEPT = 25;       // the readout is the median of the last runs
  // Test images whose ink covers more than this share of its bounding box (the median image) are
  // filled silhouettes (Fashion-MNIST: 0.73), not pen strokes (MNIST: 0.45); a drawn outline is
  // far from what such a model learned, so the pad offers a fill and shapes to start from.
  const FILLED_COVERAGE = 0.6;
  const INK_LEVEL = 0.1;         // an image's pixels above this intensity are its ink

  /* Garment silhouettes to start from, as closed polygons in pad fractions (x right, y down),
     shaped as the test images are: shoes toe left, trousers 0.36 as wide as tall (the test set's
     median is 0.39; at 0.45 and over, a filled trouser lands among dresses). Offered only where
     explorer.json's classes have the name; framed like any drawing. Their buttons' words are in
     TEXT (`shapes`), by the same name. */
  const SHAPES = [
    { name: "Trouser", polygons: [[[0.36, 0.08], [0.64, 0.08], [0.65, 0.92], [0.54, 0.92],
      [0.50, 0.30], [0.46, 0.92], [0.35, 0.92]]] },
    { name: "Sneaker", polygons: [[[0.05, 0.60], [0.16, 0.52], [0.38, 0.46], [0.58, 0.36],
      [0.72, 0.40], [0.84, 0.34], [0.95, 0.36], [0.95, 0.68], [0.05, 0.68]]] },
    { name: "T-shirt/top", polygons: [[[0.38, 0.10], [0.62, 0.10], [0.90, 0.24], [0.82, 0.42],
      [0.72, 0.37], [0.72, 0.90], [0.28, 0.90], [0.28, 0.37], [0.18, 0.42], [0.10, 0.24]]] },
  ];

  /* ---- every text the explorer shows, in the page's language ----
     The page's language is <html lang> (Material writes "pt" on the Portuguese edition): one that
     starts with "pt" is Portuguese, any other English. A text with values is a function of them;
     the numbers in it come written by `number` (a decimal comma in Portuguese, the typographic
     minus in both, as the site's own formatter writes them). The Portuguese follows the pages'
     vocabulary (docs/latent-space.pt.md, docs/glossary.pt.md). Class names are not here: they
     come from explorer.json, in English, and the page gives their translation (`classNames`). The
     model's refusals (vae-model.js) carry a reason and its values, worded here (`model`). */
  const TEXT = {
    en: {
      decimal: ".", group: ",", pair: ", ",
      planeLabel: "Latent plane: move the pointer or use the arrow keys to decode any point; "
                  + "click a test point or press Enter near one to load it into the drawing pad",
      padLabel: "Drawing pad: draw a digit or a garment here with a mouse, a finger or a pen, "
                + "or drop an image file on it",
      pointerImage: "decoded image at the pointer's z",
      inputImage: "the encoder's input",
      reconstructionImage: "reconstruction: the decoder at mu",
      sampleImage: "the decoder at one sample z of q(z|x)",
      stripImage: "interpolation between the previous input and the current one",
      undo: "Undo", clear: "Clear", resample: "New sample",
      hint: "This model learned filled grey silhouettes, like the training images: draw a "
            + "filled shape, turn on Fill (each stroke is closed and filled), or start from a shape.",
      fill: "Fill", fillLabel: "Fill: close and fill each new stroke in grey",
      shapesLabel: "Start from a shape", startFrom: "Start from:",
      shapes: { "Trouser": "Trousers", "Sneaker": "Shoe", "T-shirt/top": "T-shirt" },
      shapeLabel: (shape) => `Start from a filled ${shape.toLowerCase()} shape`,
      classes: "classes",
      planeTitle: "Latent plane: test images at their means; your input's \u03bc (+), 1\u03c3 ellipse and "
                  + "sample z (\u25cb)",
      drawHere: "Draw here", pointerTitle: "Decoded at the pointer",
      inputTitle: "Encoder input", reconstructionTitle: "Reconstruction", sampleTitle: "Decoded at sample z",
      stripTitle: "Interpolation: decoded on the straight line from the previous input's \u03bc to the current one's",
      testImage: (n, name) => `test image ${n} (${name})`,
      shape: (shape) => `the ${shape.toLowerCase()} shape`,
      file: (name) => `the image ${name}`,
      withStrokes: (what) => `${what} with your strokes`,
      drawing: "your drawing",
      posterior: (mu, sigma, z) => `\u03bc = ${mu}, \u03c3 = ${sigma}, sample z = ${z}`,
      nothingYet: "Draw on the pad, or click a test point on the plane.",
      onPad: (what) => `On the pad: ${what}.`, padEmpty: "The pad is empty.",
      stripNote: (from, to) => `From ${from} (left) to ${to} (right); the end images are the encoder's inputs.`,
      timing: (encode, decode) => "Measured in this browser: " + (encode !== null ? `encode ${encode} ms, ` : "")
                                  + `decode ${decode} ms (medians of the last runs).`,
      epoch: "epoch", play: "Play", pause: "Pause",
      when: (epoch, untrained) => `epoch ${epoch}` + (untrained ? " (untrained)" : ""),
      epochOf: (epoch, last, untrained) => `epoch ${epoch} of ${last}` + (untrained ? " (untrained)" : ""),
      framePlaneTitle: (when) => `Test images at their latent means, ${when}`,
      frameSamplesTitle: (n, when) => `The same ${n} prior codes decoded, ${when}`,
      framePlaneLabel: (epoch) => `test images at their latent means, epoch ${epoch}`,
      frameSamplesLabel: (n, epoch) => `${n} images decoded from the same prior z, epoch ${epoch}`,
      cannotLoad: (url) => `cannot load ${url}`,
      notLoaded: (name, why) => `${name} could not be loaded (${why})`,
      notJson: "explorer.json is not valid JSON",
      unnamed: "explorer.json is malformed (no model weights or test points named)",
      failed: (reason) => `The explorer could not load its model: ${reason}. Regenerate the assets with `
                          + "python -m vae report (make report). The figures above show the same encoder and decoder.",
      model: {
        malformed: (what) => `explorer.json's model is malformed (${what})`,
        "no-model": "no model entry",
        "dtype": (dtype) => `its weights are ${dtype}, not float32-le`,
        "no-latent": "no latent dimension",
        "no-layers": "no encoder or decoder",
        "layer-missing": (index) => `layer ${index} is missing`,
        "layer-op": (index, op) => `layer ${index} is a ${op}`,
        "layer-shape": (index, op) => `layer ${index} (${op}) has no valid shape`,
        "layer-size": (index, op, n, biases) => `layer ${index} (${op}) does not hold its ${n} `
                                                + (biases ? "biases" : "weights"),
        "layer-gaps": "its layers' weights overlap or leave gaps",
        "file-length": (name, bytes, expected) => `the model file ${name} is ${bytes} bytes, expected ${expected}`
                                                  + " (what the layers of explorer.json need)",
        "not-finite": (name, index) => `the model file ${name} holds a value that is not a number or infinite `
                                       + `(value ${index})`,
        "big-endian": "this browser is big-endian",
        "unknown-op": (op) => `the page's model has no layer ${op}`,
      },
    },
    pt: {
      decimal: ",", group: ".", pair: "; ",   // (0,12; −1,30): a comma would split a decimal
      planeLabel: "Plano latente: mova o ponteiro ou use as setas do teclado para decodificar qualquer ponto; "
                  + "clique num ponto de teste ou pressione Enter perto de um para carregá-lo na área de desenho",
      padLabel: "Área de desenho: desenhe aqui um dígito ou uma peça de roupa com o mouse, o dedo ou uma caneta, "
                + "ou solte nela um arquivo de imagem",
      pointerImage: "imagem decodificada no z do ponteiro",
      inputImage: "a entrada do codificador",
      reconstructionImage: "reconstrução: o decodificador em mu",
      sampleImage: "o decodificador numa amostra z de q(z|x)",
      stripImage: "interpolação entre a entrada anterior e a atual",
      undo: "Desfazer", clear: "Limpar", resample: "Nova amostra",
      hint: "Este modelo aprendeu silhuetas cinza preenchidas, como as imagens de treinamento: desenhe uma "
            + "forma preenchida, ative Preencher (cada traço é fechado e preenchido) ou comece de uma forma.",
      fill: "Preencher", fillLabel: "Preencher: fechar cada novo traço e preenchê-lo de cinza",
      shapesLabel: "Começar de uma forma", startFrom: "Começar de:",
      shapes: { "Trouser": "Calça", "Sneaker": "Tênis", "T-shirt/top": "Camiseta" },
      shapeLabel: (shape) => `Começar da forma preenchida de ${shape.toLowerCase()}`,
      classes: "classes",
      planeTitle: "Plano latente: imagens de teste nas suas médias; \u03bc (+), elipse de 1\u03c3 e amostra z (\u25cb) "
                  + "da sua entrada",
      drawHere: "Desenhe aqui", pointerTitle: "Decodificado no ponteiro",
      inputTitle: "Entrada do codificador", reconstructionTitle: "Reconstrução", sampleTitle: "Decodificado na amostra z",
      stripTitle: "Interpolação: decodificado na reta que vai da \u03bc da entrada anterior à \u03bc da atual",
      testImage: (n, name) => `imagem de teste ${n} (${name})`,
      shape: (shape) => `a forma de ${shape.toLowerCase()}`,
      file: (name) => `a imagem ${name}`,
      withStrokes: (what) => `${what}, com os seus traços`,
      drawing: "o seu desenho",
      posterior: (mu, sigma, z) => `\u03bc = ${mu}, \u03c3 = ${sigma}, amostra z = ${z}`,
      nothingYet: "Desenhe na área de desenho ou clique num ponto de teste do plano.",
      onPad: (what) => `Na área de desenho: ${what}.`, padEmpty: "A área de desenho está vazia.",
      stripNote: (from, to) => `Início: ${from} (à esquerda); fim: ${to} (à direita); as imagens das pontas `
                               + "são as entradas do codificador.",
      timing: (encode, decode) => "Medido neste navegador: " + (encode !== null ? `codificação ${encode} ms, ` : "")
                                  + `decodificação ${decode} ms (medianas das últimas execuções).`,
      epoch: "época", play: "Reproduzir", pause: "Pausar",
      when: (epoch, untrained) => `época ${epoch}` + (untrained ? " (não treinado)" : ""),
      epochOf: (epoch, last, untrained) => `época ${epoch} de ${last}` + (untrained ? " (não treinado)" : ""),
      framePlaneTitle: (when) => `Imagens de teste nas suas médias latentes, ${when}`,
      frameSamplesTitle: (n, when) => `Os mesmos ${n} códigos sorteados da prior, decodificados, ${when}`,
      framePlaneLabel: (epoch) => `imagens de teste nas suas médias latentes, época ${epoch}`,
      frameSamplesLabel: (n, epoch) => `${n} imagens decodificadas dos mesmos z sorteados da prior, época ${epoch}`,
      cannotLoad: (url) => `não foi possível carregar ${url}`,
      notLoaded: (name, why) => `não foi possível carregar ${name} (${why})`,
      notJson: "explorer.json não é um JSON válido",
      unnamed: "explorer.json está malformado (não nomeia os pesos do modelo nem os pontos de teste)",
      failed: (reason) => `O explorador não conseguiu carregar o seu modelo: ${reason}. Gere os arquivos de novo com `
                          + "python -m vae report (make report). As figuras acima mostram o mesmo codificador e o "
                          + "mesmo decodificador.",
      model: {
        malformed: (what) => `o modelo de explorer.json está malformado (${what})`,
        "no-model": "não há entrada model",
        "dtype": (dtype) => `os seus pesos são ${dtype}, e não float32-le`,
        "no-latent": "não há dimensão latente",
        "no-layers": "não há codificador ou decodificador",
        "layer-missing": (index) => `falta a camada ${index}`,
        "layer-op": (index, op) => `a camada ${index} é uma ${op}`,
        "layer-shape": (index, op) => `a camada ${index} (${op}) não tem uma forma válida`,
        "layer-size": (index, op, n, biases) => `a camada ${index} (${op}) não contém os seus ${n} `
                                                + (biases ? "vieses" : "pesos"),
        "layer-gaps": "os pesos das suas camadas se sobrepõem ou deixam lacunas",
        "file-length": (name, bytes, expected) => `o arquivo do modelo ${name} tem ${bytes} bytes, e o esperado é ${expected}`
                                                  + " (o que as camadas de explorer.json pedem)",
        "not-finite": (name, index) => `o arquivo do modelo ${name} contém um valor que não é um número ou é `
                                       + `infinito (valor ${index})`,
        "big-endian": "este navegador é big-endian",
        "unknown-op": (op) => `o modelo da página não tem a camada ${op}`,
      },
    },
  };
  const say = TEXT[(document.documentElement.lang || "").toLowerCase().startsWith("pt") ? "pt" : "en"];

  /* A number as the page's language writes it: `digits` decimals, thousands grouped, the
     typographic minus (U+2212) and no sign on a value that rounds to zero. */
  function number(value, digits = 0) {
    const [whole, fraction] = Math.abs(value).toFixed(digits).split(".");
    const text = whole.replace(/\B(?=(\d{3})+(?!\d))/g, say.group) + (fraction === undefined ? "" : say.decimal + fraction);
    return (value < 0 && /[1-9]/.test(text) ? "\u2212" : "") + text;
  }

  /* A point's first two coordinates: (0.12, −1.30), in Portuguese (0,12; −1,30). */
  const point = (v) => `(${number(v[0], 2)}${say.pair}${number(v[1], 2)})`;

  /* A refusal of the model (vae-model.js: a reason and its values) in the page's words; any other
     error as its own message. */
  function reasonOf(error) {
    if (!error || !error.reason) return error && error.message ? error.message : String(error);
    const word = (entry, values) => typeof entry === "function"
      ? entry(...values.map((v) => typeof v === "number" ? number(v) : v)) : entry;
    const [detail, ...values] = error.values;
    return error.reason === "malformed" ? say.model.malformed(word(say.model[detail], values))
                                        : word(say.model[error.reason], error.values);
  }

  /* The class names in the page's language: the page's <script type="application/json"
     class="lx-labels"> maps explorer.json's (English) names to its own (code/site_macros.py
     `explorer_labels`); a name it does not hold, or a page without it, shows as it is. */
  function classNames(classes) {
    let names = {};
    const given = document.querySelector("script.lx-labels");
    try {
      if (given) names = JSON.parse(given.textContent) || {};
    } catch (error) {
      console.error("latent explorer: the page's class names are not valid JSON", error);
    }
    const own = (name) => Object.prototype.hasOwnProperty.call(names, name) && typeof names[name] === "string";
    return classes.map((name) => own(name) ? names[name] : name);
  }

  function element(tag, className, attributes) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    Object.entries(attributes || {}).forEach(([key, value]) => node.setAttribute(key, value));
    return node;
  }

  function titled(title, ...children) {
    const panel = element("div", "lx-panel");
    const heading = element("p", "lx-title");
    heading.textContent = title;
    panel.append(heading, ...children);
    return panel;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error(say.cannotLoad(url)));
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

  const median = (values) => {
    const sorted = values.slice().sort((a, b) => a - b);
    return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
  };

  /* ---- images: intensities in [0, 1] drawn in the figures' grey levels ---- */

  function greyOf(look) {
    return (p) => Math.round(255 * (look.paper_grey + (look.ink_grey - look.paper_grey) * p));
  }

  /* 28 x 28 intensities -> a 28 x 28 canvas (CSS scales it up, pixelated). */
  function paint(canvas, values, grey) {
    const context = canvas.getContext("2d");
    const image = context.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const g = grey(values[i]);
      image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = g;
      image.data[4 * i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }

  /* Cell `index` of a sprite of 28 x 28 images, as intensities (the sprite stores round(255 p)). */
  function spriteCell(sprite, columns, index) {
    const canvas = element("canvas", null, { width: 28, height: 28 });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(sprite, (index % columns) * 28, Math.floor(index / columns) * 28, 28, 28, 0, 0, 28, 28);
    const data = context.getImageData(0, 0, 28, 28).data, values = new Float64Array(784);
    for (let i = 0; i < 784; i++) values[i] = data[4 * i] / 255;
    return values;
  }

  /* Whether the test images are filled silhouettes, and their typical grey: the medians, over
     the sprite's images, of the share of each one's bounding box its ink covers and of its ink's
     intensity. Measured from the images in the page, so it holds for any dataset and run. */
  function silhouettes(sprite, columns, count) {
    // The whole sprite read once (one canvas, not one per image: this runs as the page starts).
    const canvas = element("canvas", null, { width: sprite.naturalWidth, height: sprite.naturalHeight });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(sprite, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const coverage = [], ink = [];
    for (let n = 0; n < count; n++) {
      const row0 = Math.floor(n / columns) * 28, column0 = (n % columns) * 28, inked = [];
      let top = 28, bottom = -1, left = 28, right = -1;
      for (let i = 0; i < 784; i++) {
        const y = Math.floor(i / 28), x = i % 28, value = data[4 * ((row0 + y) * canvas.width + column0 + x)] / 255;
        if (value <= INK_LEVEL) continue;
        inked.push(value);
        top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
      }
      if (!inked.length) continue;
      coverage.push(inked.length / ((bottom - top + 1) * (right - left + 1)));
      ink.push(median(inked));
    }
    return { filled: coverage.length > 0 && median(coverage) > FILLED_COVERAGE, grey: ink.length ? median(ink) : 1 };
  }

  /* ---- preparing a drawing as the training images are (explorer.json `input`) ---- */

  /* Intensities on a square raster (ink 1, paper 0) -> the 28 x 28 encoder input: the ink's
     bounding box scaled (area average) so that its longer side is `side_px` pixels, then moved by
     whole pixels so that its centre of mass, or the centre of its box, lands where the training
     images have theirs (`centre_px`, row and column). */
  function frame(raster, size, framing) {
    let top = size, bottom = -1, left = size, right = -1;
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
      if (raster[y * size + x] > 0) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
    const input = new Float64Array(784);
    if (bottom < 0) return input;
    const scale = framing.side_px / Math.max(bottom - top + 1, right - left + 1);   // pixels per raster px
    const height = Math.ceil((bottom - top + 1) * scale - 1e-9), width = Math.ceil((right - left + 1) * scale - 1e-9);
    // Separable box filter: the raster rows (then columns) that overlap each output pixel, weighted by overlap.
    const overlaps = (start, count, n) => {
      const spans = [];
      for (let i = 0; i < n; i++) {
        const from = start + i / scale, to = Math.min(start + count, start + (i + 1) / scale), parts = [];
        for (let r = Math.floor(from); r < to; r++) {
          const w = Math.min(r + 1, to) - Math.max(r, from);
          if (w > 0) parts.push([r, w * scale]);
        }
        spans.push(parts);
      }
      return spans;
    };
    const rows = overlaps(top, bottom - top + 1, height), columns = overlaps(left, right - left + 1, width);
    const scaled = new Float64Array(height * width);
    const partial = new Float64Array(size);
    for (let i = 0; i < height; i++) {
      partial.fill(0);
      for (const [r, w] of rows[i]) for (let x = left; x <= right; x++) partial[x] += w * raster[r * size + x];
      for (let j = 0; j < width; j++) {
        let sum = 0;
        for (const [c, w] of columns[j]) sum += w * partial[c];
        scaled[i * width + j] = Math.min(1, sum);
      }
    }
    let centreRow = (height - 1) / 2, centreColumn = (width - 1) / 2;
    if (framing.centre === "mass") {
      let mass = 0, sumRow = 0, sumColumn = 0;
      for (let i = 0; i < height; i++) for (let j = 0; j < width; j++) {
        const v = scaled[i * width + j];
        mass += v; sumRow += v * i; sumColumn += v * j;
      }
      if (mass > 0) { centreRow = sumRow / mass; centreColumn = sumColumn / mass; }
    }
    const dy = Math.round(framing.centre_px[0] - centreRow), dx = Math.round(framing.centre_px[1] - centreColumn);
    for (let i = 0; i < height; i++) for (let j = 0; j < width; j++) {
      const y = i + dy, x = j + dx;
      if (y >= 0 && y < 28 && x >= 0 && x < 28) input[y * 28 + x] = scaled[i * width + j];
    }
    return input;
  }

  /* A raster's 10 x 10 blocks averaged: 28 x 28 intensities, in place (no framing). */
  function blocks(raster, size) {
    const k = size / 28, values = new Float64Array(784);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++)
      values[Math.floor(y / k) * 28 + Math.floor(x / k)] += raster[y * size + x] / (k * k);
    return values;
  }

  /* ---- the latent plane ---- */

  /* A scatter of latent points on the square [-extent, extent]^2 with integer ticks; `extra`
     draws on top (it gets the context, a z -> px function, px per unit of z, fg and bg colours). */
  function drawPlane(canvas, extent, z, labels, colours, extra) {
    const fitted = fitCanvas(canvas);
    if (!fitted) return;
    const { context, width } = fitted;
    const toPx = (z1, z2) => [(z1 + extent) / (2 * extent) * width, (extent - z2) / (2 * extent) * width];
    context.fillStyle = themeColor(canvas, "--md-default-bg-color", "#fff");
    context.fillRect(0, 0, width, width);
    context.strokeStyle = themeColor(canvas, "--md-default-fg-color--lightest", "#ddd");
    context.fillStyle = themeColor(canvas, "--md-default-fg-color--light", "#666");
    context.font = "11px system-ui, sans-serif";
    context.lineWidth = 1;
    for (let tick = Math.ceil(-extent); tick <= extent; tick++) {
      const [p, q] = toPx(tick, tick);
      context.beginPath();
      context.moveTo(p, 0); context.lineTo(p, width); context.moveTo(0, q); context.lineTo(width, q);
      context.stroke();
      if (tick !== 0 && Math.abs(tick) < extent - 0.75) {   // the outermost ticks would hit the axis names
        context.fillText(number(tick), p + 2, width - 4);
        context.fillText(number(tick), 3, q - 2);
      }
    }
    context.fillText("z\u2081 \u2192", width - 34, width - 4);
    context.fillText("\u2191 z\u2082", 3, 12);
    context.globalAlpha = 0.7;
    for (let n = 0; n < labels.length; n++) {
      const [x, y] = toPx(z[2 * n], z[2 * n + 1]);
      context.fillStyle = colours[labels[n] % colours.length];
      context.beginPath();
      context.arc(x, y, 2.5, 0, 2 * Math.PI);
      context.fill();
    }
    context.globalAlpha = 1;
    if (extra) extra(context, toPx, width / (2 * extent), themeColor(canvas, "--md-default-fg-color", "#000"),
                     themeColor(canvas, "--md-default-bg-color", "#fff"));
  }

  function cross(context, x, y, size) {
    context.beginPath();
    context.moveTo(x - size, y); context.lineTo(x + size, y); context.moveTo(x, y - size); context.lineTo(x, y + size);
    context.stroke();
  }

  function legend(spec) {
    const list = element("ul", "lx-legend", { "aria-label": say.classes });
    spec.classNames.forEach((name, index) => {
      const item = element("li");
      const swatch = element("span", "lx-swatch", { "aria-hidden": "true" });
      swatch.style.background = spec.look.class_colours[index % spec.look.class_colours.length];
      item.append(swatch, name);
      list.append(item);
    });
    return list;
  }

  /* Box-Muller: one standard normal value. */
  function gaussian() {
    let u = 0;
    while (u === 0) u = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
  }

  function explorerElements(spec, filled) {
    const square = (className, label) => element("canvas", "lx-image " + className,
                                                 { width: 28, height: 28, role: "img", "aria-label": label });
    const ui = {
      plane: element("canvas", "lx-plane", { tabindex: "0", role: "application",
        "aria-label": say.planeLabel }),
      pad: element("canvas", "lx-pad", { role: "img", "aria-label": say.padLabel }),
      undo: element("button", "md-button lx-button lx-undo", { type: "button" }),
      clear: element("button", "md-button lx-button lx-clear", { type: "button" }),
      resample: element("button", "md-button lx-button lx-resample", { type: "button" }),
      fill: null,
      shapes: [],
      source: element("p", "lx-note lx-source", { "aria-live": "polite" }),
      pointer: square("lx-pointer", say.pointerImage),
      pointerZ: element("p", "lx-note lx-z"),
      input: square("lx-input", say.inputImage),
      reconstruction: square("lx-reconstruction", say.reconstructionImage),
      sample: square("lx-sample", say.sampleImage),
      posterior: element("p", "lx-note lx-posterior", { "aria-live": "polite" }),
      strip: element("canvas", "lx-strip", { width: 28 * (STEPS + 3), height: 28, role: "img",
        "aria-label": say.stripImage }),
      stripNote: element("p", "lx-note lx-strip-note"),
      timing: element("p", "lx-note lx-timing"),
      app: element("div", "lx-explorer"),
    };
    ui.undo.textContent = say.undo;
    ui.clear.textContent = say.clear;
    ui.resample.textContent = say.resample;
    const buttons = element("div", "lx-buttons");
    buttons.append(ui.undo, ui.clear, ui.resample);
    const padRow = element("div", "lx-row lx-area-pad");
    const controls = element("div", "lx-area-controls");
    controls.append(buttons);
    if (filled) {
      // The model knows filled grey shapes only: say so, and give the tools to draw one.
      const hint = element("p", "lx-note lx-hint");
      hint.textContent = say.hint;
      padRow.append(hint);
      ui.fill = element("button", "md-button lx-button lx-fill", { type: "button", "aria-pressed": "false",
        "aria-label": say.fillLabel });
      ui.fill.textContent = say.fill;
      buttons.append(ui.fill);
      const shapes = element("div", "lx-buttons lx-shapes", { role: "group", "aria-label": say.shapesLabel });
      const label = element("span", "lx-note lx-shapes-label", { "aria-hidden": "true" });
      label.textContent = say.startFrom;
      shapes.append(label);
      for (const shape of SHAPES.filter((s) => spec.classes.includes(s.name))) {
        const button = element("button", "md-button lx-button lx-shape", { type: "button",
          "data-shape": shape.name, "aria-label": say.shapeLabel(say.shapes[shape.name]) });
        button.textContent = say.shapes[shape.name];
        ui.shapes.push([button, shape]);
        shapes.append(button);
      }
      if (ui.shapes.length) controls.append(shapes);
    }
    controls.append(ui.source);
    const planePanel = titled(say.planeTitle, ui.plane, legend(spec));
    planePanel.classList.add("lx-area-plane");
    padRow.append(titled(say.drawHere, ui.pad), titled(say.pointerTitle, ui.pointer, ui.pointerZ));
    const images = element("div", "lx-row lx-row-3 lx-area-images");
    images.append(titled(say.inputTitle, ui.input), titled(say.reconstructionTitle, ui.reconstruction),
                  titled(say.sampleTitle, ui.sample));
    const details = element("div", "lx-area-details");
    details.append(ui.posterior, ui.timing);
    ui.stripPanel = titled(say.stripTitle, ui.strip, ui.stripNote);
    ui.stripPanel.classList.add("lx-area-strip");
    ui.stripPanel.hidden = true;
    ui.app.append(planePanel, padRow, controls, images, details, ui.stripPanel);
    return ui;
  }

  /* The explorer proper: the plane, the drawing pad, the model's answers. */
  function buildExplorer(root, spec, images, model) {
    const points = spec.points, extent = spec.extent, grey = greyOf(spec.look);
    const silhouette = silhouettes(images.originals, points.columns, points.count);
    const ui = explorerElements(spec, silhouette.filled);
    const timings = { encode: [], decode: [] };
    const timed = (kind, call) => {
      const started = performance.now();
      const result = call();
      const list = timings[kind];
      list.push(performance.now() - started);
      if (list.length > TIMINGS_KEPT) list.shift();
      return result;
    };
    const state = {
      strokes: [],            // each a list of [x, y] in [0, 1]^2 of the pad; `filled` when drawn with Fill on
      base: null,             // {kind: "test", index, values}, {kind: "file", name, raster} or {kind: "shape", name, strokes}
      fill: false,            // Fill on: new strokes are closed and filled in the test images' grey
      current: null,          // what the encoder sees now and its answers
      previous: null,         // the input before the last Clear, test image or file
      pointerZ: [0, 0],
      strip: null,
      dirty: { input: false, pointer: true, strip: false, plane: true, pad: true },
    };
    const shown = { input: null, mu: null, logvar: null, reconstruction: null, sample: null,
                    pointer: null, strip: null, timings, model, silhouette };
    root.explorer = shown;
    const raster = element("canvas", null, { width: RASTER, height: RASTER });
    const rasterContext = raster.getContext("2d", { willReadFrequently: true });

    /* The reader's strokes (points in [0, 1]^2), a shape's first, on a square canvas `size` pixels
       wide, `colour` giving the CSS colour of an intensity: one definition for the encoder's raster
       and for what the pad shows. A plain stroke is a line of ink (intensity 1); a filled one (Fill,
       a shape) is closed and filled in the test images' typical grey. */
    const drawStrokes = (ctx, size, colour) => {
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.lineWidth = PEN * size;
      const shape = state.base && state.base.kind === "shape" ? state.base.strokes : [];
      for (const stroke of shape.concat(state.strokes)) {
        ctx.strokeStyle = ctx.fillStyle = colour(stroke.filled ? silhouette.grey : 1);
        ctx.beginPath();
        if (stroke.filled && stroke.length > 2) {
          ctx.moveTo(stroke[0][0] * size, stroke[0][1] * size);
          for (const [x, y] of stroke.slice(1)) ctx.lineTo(x * size, y * size);
          ctx.closePath();
          ctx.fill();   // no pen-wide outline: it would close the gaps a silhouette has (between the legs)
          continue;
        }
        if (stroke.length === 1) {
          ctx.arc(stroke[0][0] * size, stroke[0][1] * size, PEN * size / 2, 0, 2 * Math.PI);
          ctx.fill();
          continue;
        }
        ctx.moveTo(stroke[0][0] * size, stroke[0][1] * size);
        for (const [x, y] of stroke.slice(1)) ctx.lineTo(x * size, y * size);
        ctx.stroke();
      }
    };

    /* The pad's content as intensities on the raster: a dropped file under the strokes. */
    const rasterize = () => {
      rasterContext.fillStyle = "#000";
      rasterContext.fillRect(0, 0, RASTER, RASTER);
      drawStrokes(rasterContext, RASTER, (v) => { const g = Math.round(255 * v); return `rgb(${g}, ${g}, ${g})`; });
      const data = rasterContext.getImageData(0, 0, RASTER, RASTER).data, values = new Float64Array(RASTER * RASTER);
      for (let i = 0; i < values.length; i++) values[i] = data[4 * i] / 255;
      if (state.base && state.base.kind === "file")
        for (let i = 0; i < values.length; i++) values[i] = Math.max(values[i], state.base.raster[i]);
      return values;
    };

    /* The encoder's input: a test image is the model's own data and is used as it is (strokes on
       it are added pixel by pixel); a drawing or a file is framed as the training images are. */
    const encoderInput = () => {
      if (state.base && state.base.kind === "test") {
        const added = state.strokes.length ? blocks(rasterize(), RASTER) : new Float64Array(784);
        return state.base.values.map((v, i) => Math.min(1, v + added[i]));
      }
      return frame(rasterize(), RASTER, spec.input);
    };

    const describe = () => {
      const base = state.base;
      if (!base) return state.strokes.length ? say.drawing : null;
      const what = base.kind === "test"
        ? say.testImage(number(base.index + 1), spec.classNames[points.labels[base.index]])
        : base.kind === "shape" ? say.shape(say.shapes[base.name]) : say.file(base.name);
      return state.strokes.length ? say.withStrokes(what) : what;
    };

    const encode = () => {
      const input = encoderInput();
      if (!input.some((v) => v > 0)) { state.current = null; return; }
      const { mu, logvar } = timed("encode", () => model.encode(input));
      const reconstruction = timed("decode", () => model.decode(mu));
      const eps = Array.from(mu, () => gaussian());
      const z = Array.from(mu, (m, d) => m + Math.exp(0.5 * logvar[d]) * eps[d]);
      state.current = { input, mu, logvar, reconstruction, label: describe(),
                        sample: { z, image: timed("decode", () => model.decode(z)) } };
    };

    const resample = () => {
      const c = state.current;
      if (!c) return;
      const z = Array.from(c.mu, (m, d) => m + Math.exp(0.5 * c.logvar[d]) * gaussian());
      c.sample = { z, image: timed("decode", () => model.decode(z)) };
      state.dirty.plane = true;
      showCurrent();
    };

    const blank = new Float64Array(784);
    const showCurrent = () => {
      const c = state.current;
      paint(ui.input, c ? c.input : blank, grey);
      paint(ui.reconstruction, c ? c.reconstruction : blank, grey);
      paint(ui.sample, c ? c.sample.image : blank, grey);
      ui.posterior.textContent = c
        ? say.posterior(point(c.mu), point(Array.from(c.logvar, (v) => Math.exp(v / 2))), point(c.sample.z))
        : say.nothingYet;
      ui.source.textContent = c ? say.onPad(c.label) : say.padEmpty;
      Object.assign(shown, c ? { input: c.input, mu: c.mu, logvar: c.logvar, reconstruction: c.reconstruction,
                                 sample: c.sample } : { input: null, mu: null, logvar: null, reconstruction: null,
                                                        sample: null });
      root.dataset.mu = c ? `${c.mu[0]},${c.mu[1]}` : "";
    };

    /* The interpolation: decoded a step at a time between frames, so drawing never waits for it. */
    const startStrip = () => {
      const a = state.previous, b = state.current;
      ui.stripPanel.hidden = !(a && b);
      shown.strip = null;
      if (!(a && b)) { state.strip = null; return; }
      const z = Array.from({ length: STEPS }, (_, k) =>
        Array.from(a.mu, (m, d) => m + (b.mu[d] - m) * k / (STEPS - 1)));
      state.strip = { z, images: [], from: a, to: b };
      ui.stripNote.textContent = say.stripNote(a.label, b.label);
      const context = ui.strip.getContext("2d");
      context.fillStyle = `rgb(${grey(0)}, ${grey(0)}, ${grey(0)})`;
      context.fillRect(0, 0, ui.strip.width, 28);
      paintAt(ui.strip, a.input, 0);
      paintAt(ui.strip, b.input, 28 * (STEPS + 2));
    };
    // The strip: the start's input, half a cell of paper, the STEPS decodes, half a cell, the end's input.
    const paintAt = (canvas, values, x) => {
      const cell = element("canvas", null, { width: 28, height: 28 });
      paint(cell, values, grey);
      canvas.getContext("2d").drawImage(cell, x, 0);
    };
    const stepStrip = (deadline) => {
      const s = state.strip;
      while (s && s.images.length < STEPS && performance.now() < deadline) {
        const image = timed("decode", () => model.decode(s.z[s.images.length]));
        paintAt(ui.strip, image, 42 + 28 * s.images.length);
        s.images.push(image);
        if (s.images.length === STEPS) {
          shown.strip = { z: s.z, images: s.images };
          root.dataset.strip = "ready";
        }
      }
    };

    const marks = (context, toPx, pxPerUnit, fg, bg) => {
      context.strokeStyle = fg;
      context.fillStyle = fg;
      context.lineWidth = 1.5;
      const [px, py] = toPx(...state.pointerZ);
      context.setLineDash([3, 3]);
      cross(context, px, py, 9);
      context.setLineDash([]);
      const a = state.previous, c = state.current;
      if (a && c) {
        const [x0, y0] = toPx(a.mu[0], a.mu[1]), [x1, y1] = toPx(c.mu[0], c.mu[1]);
        context.globalAlpha = 0.6;
        context.beginPath(); context.moveTo(x0, y0); context.lineTo(x1, y1); context.stroke();
        context.beginPath(); context.arc(x0, y0, 4, 0, 2 * Math.PI); context.stroke();
        context.globalAlpha = 1;
      }
      if (c) {   // each mark twice: a wide stroke in the background colour, so it stands out of the points
        const [x, y] = toPx(c.mu[0], c.mu[1]), [sx, sy] = toPx(c.sample.z[0], c.sample.z[1]);
        const draw = () => {
          context.beginPath();
          context.ellipse(x, y, Math.exp(c.logvar[0] / 2) * pxPerUnit, Math.exp(c.logvar[1] / 2) * pxPerUnit,
                          0, 0, 2 * Math.PI);
          context.stroke();
          cross(context, x, y, 9);
          context.beginPath(); context.arc(sx, sy, 4.5, 0, 2 * Math.PI); context.stroke();
        };
        context.strokeStyle = bg;
        context.lineWidth = 5;
        draw();
        context.strokeStyle = fg;
        context.lineWidth = 2;
        draw();
      }
    };

    /* One animation frame: the input's answers, the pointer's decode, the plane, then the strip. */
    let scheduled = false;
    const update = () => {
      if (scheduled) return;
      scheduled = true;
      root.dataset.busy = "true";
      requestAnimationFrame((started) => {
        scheduled = false;
        const d = state.dirty;
        if (d.input) { encode(); showCurrent(); d.input = false; d.strip = true; d.plane = true; d.pad = true; }
        if (d.pointer) {
          const image = timed("decode", () => model.decode(state.pointerZ));
          paint(ui.pointer, image, grey);
          ui.pointerZ.textContent = `z = ${point(state.pointerZ)}`;
          shown.pointer = { z: state.pointerZ.slice(), image };
          d.pointer = false; d.plane = true;
        }
        if (d.strip) { startStrip(); d.strip = false; }
        if (d.plane) { drawPlane(ui.plane, extent, points.z, points.labels, spec.look.class_colours, marks); d.plane = false; }
        if (d.pad) { drawPad(); d.pad = false; }
        const encodeMs = median(timings.encode), decodeMs = median(timings.decode);
        if (decodeMs !== null)
          ui.timing.textContent = say.timing(encodeMs !== null ? number(encodeMs, 1) : null, number(decodeMs, 1));
        stepStrip(started + 12);
        if (state.strip && state.strip.images.length < STEPS) update();
        if (!scheduled) root.dataset.busy = "false";
      });
    };
    const changed = (what) => { state.dirty[what] = true; if (what === "input") root.dataset.strip = ""; update(); };

    const drawPad = () => {
      const fitted = fitCanvas(ui.pad);
      if (!fitted) return;
      const { context, width } = fitted;
      context.fillStyle = `rgb(${grey(0)}, ${grey(0)}, ${grey(0)})`;
      context.fillRect(0, 0, width, width);
      if (state.base && state.base.kind !== "shape") {
        const cell = element("canvas", null, { width: 28, height: 28 });
        if (state.base.kind === "test") paint(cell, state.base.values, grey);
        else paint(cell, blocks(state.base.raster, RASTER), grey);
        context.imageSmoothingEnabled = state.base.kind !== "test";
        context.drawImage(cell, 0, 0, width, width);
      }
      drawStrokes(context, width, (v) => `rgb(${grey(v)}, ${grey(v)}, ${grey(v)})`);
    };

    /* A new input replaces the pad's content; the old one becomes the interpolation's start. */
    const replace = (base) => {
      if (state.current) state.previous = Object.assign({}, state.current);
      state.strokes = [];
      state.base = base;
      changed("input");
    };
    const load = (index) => replace({ kind: "test", index,
                                      values: spriteCell(images.originals, points.columns, index) });

    listenPad(ui.pad, state, () => changed("input"), (name, rasterValues) => replace({ kind: "file", name, raster: rasterValues }));
    ui.undo.addEventListener("click", () => { state.strokes.pop(); changed("input"); });
    ui.clear.addEventListener("click", () => replace(null));
    ui.resample.addEventListener("click", resample);
    if (ui.fill) ui.fill.addEventListener("click", () => {
      state.fill = !state.fill;   // for the strokes to come; those drawn stay as they are
      ui.fill.setAttribute("aria-pressed", String(state.fill));
    });
    for (const [button, shape] of ui.shapes) button.addEventListener("click", () => replace({
      kind: "shape", name: shape.name,
      strokes: shape.polygons.map((polygon) => Object.assign(polygon.map((p) => p.slice()), { filled: true })) }));
    listenPlane(ui.plane, spec, state, (z) => { state.pointerZ = z; changed("pointer"); }, load);
    new ResizeObserver(() => { state.dirty.plane = state.dirty.pad = true; update(); }).observe(ui.plane);
    showCurrent();
    update();
    return { element: ui.app, redraw: () => { state.dirty.plane = state.dirty.pad = true; update(); } };
  }

  /* The pad: pointer events (mouse, finger, pen) add strokes; an image file dropped on it loads. */
  function listenPad(pad, state, onStroke, onFile) {
    let drawing = null;
    const at = (event) => {
      const box = pad.getBoundingClientRect();
      return [Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
              Math.min(1, Math.max(0, (event.clientY - box.top) / box.height))];
    };
    pad.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      pad.setPointerCapture(event.pointerId);
      drawing = [at(event)];
      drawing.filled = state.fill;
      state.strokes.push(drawing);
      onStroke();
    });
    pad.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      (events.length ? events : [event]).forEach((e) => drawing.push(at(e)));
      onStroke();
    });
    const end = () => { drawing = null; };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("is-target"); });
    pad.addEventListener("dragleave", () => pad.classList.remove("is-target"));
    pad.addEventListener("drop", (event) => {
      event.preventDefault();
      pad.classList.remove("is-target");
      const file = [...(event.dataTransfer ? event.dataTransfer.files : [])].find((f) => f.type.startsWith("image/"));
      if (!file) return;
      const url = URL.createObjectURL(file);
      loadImage(url).then((image) => {
        URL.revokeObjectURL(url);
        onFile(file.name, fileRaster(image));
      }).catch((error) => console.error("latent explorer:", error));
    });
  }

  /* A dropped image, fitted inside the raster, as ink intensities: its grey levels, inverted when
     the picture is dark on light (its border brighter than mid-grey); transparent parts are paper,
     and faint values (below INK_FLOOR) too, so that a photograph's background is not ink. */
  const INK_FLOOR = 0.15;
  function fileRaster(image) {
    const scale = RASTER / Math.max(image.naturalWidth, image.naturalHeight);
    const w = Math.max(1, Math.round(image.naturalWidth * scale)), h = Math.max(1, Math.round(image.naturalHeight * scale));
    const canvas = element("canvas", null, { width: w, height: h });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0, w, h);
    const data = context.getImageData(0, 0, w, h).data;
    const light = (i) => (0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]) / 255;
    let border = 0, count = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if ((y < 2 || y >= h - 2 || x < 2 || x >= w - 2) && data[4 * i + 3] > 0) { border += light(i); count++; }
    }
    const darkOnLight = count > 0 && border / count > 0.5;
    const values = new Float64Array(RASTER * RASTER), top = Math.floor((RASTER - h) / 2), left = Math.floor((RASTER - w) / 2);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = y * w + x, ink = (darkOnLight ? 1 - light(i) : light(i)) * data[4 * i + 3] / 255;
      values[(top + y) * RASTER + left + x] = ink < INK_FLOOR ? 0 : ink;
    }
    return values;
  }

  /* Pointer (mouse, pen, finger) and keys over the plane: `move` decodes a z, `pick` loads a test point. */
  function listenPlane(plane, spec, state, move, pick) {
    const points = spec.points, extent = spec.extent;
    const zAt = (event) => {
      const box = plane.getBoundingClientRect();
      return [[-extent + 2 * extent * (event.clientX - box.left) / box.width,
               extent - 2 * extent * (event.clientY - box.top) / box.height], box.width];
    };
    const nearestPoint = (z, radius) => {
      let best = null, bestDistance = radius * radius;
      for (let k = 0; k < points.count; k++) {
        const d = (points.z[2 * k] - z[0]) ** 2 + (points.z[2 * k + 1] - z[1]) ** 2;
        if (d < bestDistance) { best = k; bestDistance = d; }
      }
      return best;
    };
    plane.addEventListener("pointermove", (event) => move(zAt(event)[0]));
    plane.addEventListener("pointerdown", (event) => {
      const [z, widthPx] = zAt(event);
      move(z);
      const picked = nearestPoint(z, PICK_RADIUS_PX * 2 * extent / widthPx);
      if (picked !== null) pick(picked);
    });
    plane.addEventListener("keydown", (event) => {
      const step = (event.shiftKey ? 4 : 1) * extent / 32;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      const clamp = (v) => Math.max(-extent, Math.min(extent, v));
      if (moves[event.key]) move([clamp(state.pointerZ[0] + moves[event.key][0]), clamp(state.pointerZ[1] + moves[event.key][1])]);
      else if (event.key === "Enter" || event.key === " ") {
        const picked = nearestPoint(state.pointerZ, extent / 8);
        if (picked !== null) pick(picked);
      } else return;
      event.preventDefault();
    });
  }

  /* Training as it evolves: the scatter and the same prior z decoded at every epoch. */
  function buildEvolution(root, spec, images) {
    const frames = spec.frames, last = frames.epochs.length - 1, grey = greyOf(spec.look);
    const perRow = 8, rows = Math.ceil(frames.samples / perRow);
    const plane = element("canvas", "lx-plane lx-frame-plane", { role: "img" });
    const samples = element("canvas", "lx-samples", { width: perRow * 28, height: rows * 28, role: "img" });
    const slider = element("input", "lx-epoch", { type: "range", min: "0", max: String(last), step: "1",
      value: String(last), "aria-label": say.epoch });
    const label = element("output", "lx-epoch-label", { "aria-live": "polite" });
    const play = element("button", "md-button lx-button lx-play", { type: "button", "aria-pressed": "false" });
    play.textContent = say.play;
    const controls = element("div", "lx-controls");
    controls.append(play, slider, label);
    const planeTitle = titled("", plane), samplesTitle = titled("", samples, controls);
    const panels = element("div", "lx-evolution-panels");
    panels.append(planeTitle, samplesTitle);
    const app = element("div", "lx-evolution");
    app.append(panels);
    // The sprite holds round(255 p); drawn here in the figures' grey levels.
    const cells = frames.epochs.map((_, index) => Array.from({ length: frames.samples },
      (_, k) => spriteCell(images.frames, frames.samples, index * frames.samples + k)));

    const draw = () => {
      const index = Number(slider.value), epoch = frames.epochs[index];
      const z = frames.points[index];
      drawPlane(plane, frames.extent, z, spec.points.labels.slice(0, z.length / 2), spec.look.class_colours);
      const context = samples.getContext("2d");
      const cell = element("canvas", null, { width: 28, height: 28 });
      for (let k = 0; k < frames.samples; k++) {
        paint(cell, cells[index][k], grey);
        context.drawImage(cell, (k % perRow) * 28, Math.floor(k / perRow) * 28);
      }
      const written = number(epoch), samplesWritten = number(frames.samples), when = say.when(written, epoch === 0);
      label.textContent = say.epochOf(written, number(frames.epochs[last]), epoch === 0);
      planeTitle.firstChild.textContent = say.framePlaneTitle(when);
      samplesTitle.firstChild.textContent = say.frameSamplesTitle(samplesWritten, when);
      plane.setAttribute("aria-label", say.framePlaneLabel(written));
      samples.setAttribute("aria-label", say.frameSamplesLabel(samplesWritten, written));
      root.dataset.epoch = epoch;
    };
    let timer = null;
    const stop = () => {
      clearInterval(timer);
      timer = null;
      play.textContent = say.play;
      play.setAttribute("aria-pressed", "false");
    };
    play.addEventListener("click", () => {
      if (timer !== null) return stop();
      play.textContent = say.pause;
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

  /* A file of the explorer's folder, or an error that names it and what went wrong. */
  async function fetchFile(folder, name) {
    let response;
    try {
      response = await fetch(new URL(name, folder));
    } catch (error) {
      throw new Error(say.notLoaded(name, error.message));
    }
    if (!response.ok) throw new Error(say.notLoaded(name, `HTTP ${response.status}`));
    return response;
  }

  /* explorer.json, refused unless it is JSON with the entries the page reads before anything else. */
  async function readSpec(folder) {
    const text = await (await fetchFile(folder, "explorer.json")).text();
    let spec;
    try {
      spec = JSON.parse(text);
    } catch (error) {
      throw new Error(say.notJson);
    }
    const named = (v) => typeof v === "string" && v !== "" && !v.includes("/");
    if (!spec || typeof spec !== "object" || !spec.model || !named(spec.model.weights)
        || !spec.points || !named(spec.points.originals)) {
      throw new Error(say.unnamed);
    }
    return spec;
  }

  async function start(root) {
    // The folder is the page's: its data-explorer attribute (docs/latent-space.md).
    const folder = new URL(root.dataset.explorer.replace(/\/?$/, "/"), siteBase());
    const spec = await readSpec(folder);
    spec.classNames = classNames(spec.classes || []);
    const weights = await fetchFile(folder, spec.model.weights);
    const model = window.VAEModel.load(spec.model, await weights.arrayBuffer(), spec.model.weights);
    const names = { originals: spec.points.originals };
    if (spec.frames) names.frames = spec.frames.sprite;
    const images = {};
    await Promise.all(Object.entries(names).map(async ([key, file]) => {
      images[key] = await loadImage(new URL(file, folder));
    }));
    const parts = [buildExplorer(root, spec, images, model)];
    if (spec.frames) parts.push(buildEvolution(root, spec, images));
    root.classList.add("is-live");
    parts.forEach((part) => root.append(part.element));
    parts.forEach((part) => part.redraw());
    // Material switches palettes by an attribute on <body>: redraw the canvases in the new colours.
    new MutationObserver(() => parts.forEach((part) => part.redraw()))
      .observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
    root.dataset.ready = "true";
  }

  /* Say in the page why the explorer is not there, in place of the fallback's "without
     JavaScript", which would blame the reader's browser for a broken or missing file. */
  function failed(root, error) {
    const message = element("p", "lx-error", { role: "alert" });
    message.textContent = say.failed(reasonOf(error));
    root.classList.add("is-failed");
    root.prepend(message);
  }

  function startAll() {
    document.querySelectorAll(".latent-explorer[data-explorer]").forEach((root) => {
      start(root).catch((error) => {
        root.dataset.ready = "failed";
        console.error(`latent explorer: ${reasonOf(error)}`, error);   // the page's words, then the error and its stack
        failed(root, error);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
