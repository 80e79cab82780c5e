/* The report's VAE, run in the page: plain JavaScript, no library, nothing from other hosts.
 *
 * `VAEModel.load(spec, buffer)` takes the `model` entry of an explorer.json and the bytes of its
 * model.bin (both written by code/vae/explorer.py `export_model`), checks them (`check`: a
 * well-formed spec, exactly the file length its layers need, every weight finite) and returns
 *   encode(x)  x: 784 intensities in [0, 1]  -> { mu, logvar } of q(z|x)
 *   decode(z)  z: latent point               -> 784 Bernoulli means sigmoid(logits), row by row
 * Layers are the PyTorch ones of code/vae/models.py: Conv2d, ConvTranspose2d, Linear, ReLU, Tanh,
 * Flatten, Unflatten. Arithmetic is in double precision (JavaScript numbers), so the results
 * differ from PyTorch's float32 ones by float32 rounding only.
 *
 * A refusal is a `VAEModel.ModelError`: its `reason` names what is wrong and its `values` say
 * where (numbers as numbers), and the page words it in its own language (latent-explorer.js,
 * TEXT `model`); this file holds no reader's text.
 */
(function (global) {
  "use strict";

  /* "malformed" (explorer.json's model entry; its first value is the detail's own reason),
     "file-length", "not-finite", "big-endian" or "unknown-op", with the values the page's
     words need. The message is the same, for a console. */
  class ModelError extends Error {
    constructor(reason, ...values) {
      super(values.length ? `${reason} (${values.join(", ")})` : reason);
      this.name = "ModelError";
      this.reason = reason;
      this.values = values;
    }
  }

  /* A convolution as one matrix product: out (O x N) = W (O x K) . columns (K x N), with
     K = C * k * k unfolded input values per output position and N output positions; the inner
     loop runs over K (see `multiply`). */
  function conv2d(layer, input, height, width) {
    const C = layer.in, O = layer.out, k = layer.kernel, s = layer.stride, p = layer.padding;
    const outH = Math.floor((height + 2 * p - k) / s) + 1, outW = Math.floor((width + 2 * p - k) / s) + 1;
    const N = outH * outW, K = C * k * k;
    if (O < 4) return directConv2d(layer, input, height, width, outH, outW);
    const columns = layer.columns || (layer.columns = new Float64Array(K * N));
    for (let c = 0; c < C; c++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const row = ((c * k + ky) * k + kx) * N;
      for (let oy = 0; oy < outH; oy++) {
        const iy = oy * s - p + ky, inside = iy >= 0 && iy < height;
        for (let ox = 0; ox < outW; ox++) {
          const ix = ox * s - p + kx;
          columns[row + oy * outW + ox] = inside && ix >= 0 && ix < width ? input[(c * height + iy) * width + ix] : 0;
        }
      }
    }
    const out = new Float64Array(O * N);
    multiply(layer.w, layer.b, columns, out, O, K, N);
    return { data: out, channels: O, height: outH, width: outW };
  }

  /* A convolution with few output channels (the decoder's last layer), without unfolding the
     input: each weight multiplies a whole shifted input plane, row by row. */
  function directConv2d(layer, input, height, width, outH, outW) {
    const C = layer.in, O = layer.out, k = layer.kernel, s = layer.stride, p = layer.padding;
    const out = new Float64Array(O * outH * outW);
    for (let o = 0; o < O; o++) {
      const plane = o * outH * outW;
      for (let i = 0; i < outH * outW; i++) out[plane + i] = layer.b[o];
      for (let c = 0; c < C; c++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
        const a = layer.w[((o * C + c) * k + ky) * k + kx];
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * s - p + ky;
          if (iy < 0 || iy >= height) continue;
          const row = (c * height + iy) * width, target = plane + oy * outW;
          for (let ox = 0; ox < outW; ox++) {
            const ix = ox * s - p + kx;
            if (ix >= 0 && ix < width) out[target + ox] += a * input[row + ix];
          }
        }
      }
    }
    return { data: out, channels: O, height: outH, width: outW };
  }

  /* out[o * N + n] = bias[o] + sum over k of w[o * K + k] * x[k * N + n], in blocks of 4 rows by
     4 columns: 16 sums stay in registers while k runs, 8 loads for 16 multiply-adds. */
  function multiply(w, bias, x, out, O, K, N) {
    let o = 0;
    for (; o + 4 <= O; o += 4) {
      const w0 = o * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      const b0 = bias ? bias[o] : 0, b1 = bias ? bias[o + 1] : 0, b2 = bias ? bias[o + 2] : 0,
            b3 = bias ? bias[o + 3] : 0;
      let n = 0;
      for (; n + 4 <= N; n += 4) {
        let s00 = b0, s01 = b0, s02 = b0, s03 = b0, s10 = b1, s11 = b1, s12 = b1, s13 = b1;
        let s20 = b2, s21 = b2, s22 = b2, s23 = b2, s30 = b3, s31 = b3, s32 = b3, s33 = b3;
        for (let k = 0, xk = n; k < K; k++, xk += N) {
          const x0 = x[xk], x1 = x[xk + 1], x2 = x[xk + 2], x3 = x[xk + 3];
          let a = w[w0 + k]; s00 += a * x0; s01 += a * x1; s02 += a * x2; s03 += a * x3;
          a = w[w1 + k]; s10 += a * x0; s11 += a * x1; s12 += a * x2; s13 += a * x3;
          a = w[w2 + k]; s20 += a * x0; s21 += a * x1; s22 += a * x2; s23 += a * x3;
          a = w[w3 + k]; s30 += a * x0; s31 += a * x1; s32 += a * x2; s33 += a * x3;
        }
        let r = o * N + n;
        out[r] = s00; out[r + 1] = s01; out[r + 2] = s02; out[r + 3] = s03; r += N;
        out[r] = s10; out[r + 1] = s11; out[r + 2] = s12; out[r + 3] = s13; r += N;
        out[r] = s20; out[r + 1] = s21; out[r + 2] = s22; out[r + 3] = s23; r += N;
        out[r] = s30; out[r + 1] = s31; out[r + 2] = s32; out[r + 3] = s33;
      }
      for (; n < N; n++) {
        let s0 = b0, s1 = b1, s2 = b2, s3 = b3;
        for (let k = 0, xk = n; k < K; k++, xk += N) {
          const v = x[xk];
          s0 += w[w0 + k] * v; s1 += w[w1 + k] * v; s2 += w[w2 + k] * v; s3 += w[w3 + k] * v;
        }
        out[o * N + n] = s0; out[(o + 1) * N + n] = s1; out[(o + 2) * N + n] = s2; out[(o + 3) * N + n] = s3;
      }
    }
    for (; o < O; o++) {   // the last rows one at a time, walking x row by row (contiguous)
      const r = o * N;
      for (let n = 0; n < N; n++) out[r + n] = bias ? bias[o] : 0;
      for (let k = 0; k < K; k++) {
        const a = w[o * K + k], xk = k * N;
        for (let n = 0; n < N; n++) out[r + n] += a * x[xk + n];
      }
    }
  }

  /* A transposed convolution: every input position spreads C values through the O x k x k
     weights: columns (O*k*k x N) = W^T (O*k*k x C) . input (C x N), then each column is added
     at its output position (y = iy * s - p + ky), then the bias. */
  function convTranspose2d(layer, input, height, width) {
    const C = layer.in, O = layer.out, k = layer.kernel, s = layer.stride, p = layer.padding;
    const outH = (height - 1) * s - 2 * p + k, outW = (width - 1) * s - 2 * p + k, N = height * width;
    const columns = layer.columns || (layer.columns = new Float64Array(O * k * k * N));
    multiply(layer.wt, null, input, columns, O * k * k, C, N);
    const out = new Float64Array(O * outH * outW);
    for (let o = 0; o < O; o++) {
      const plane = o * outH * outW;
      for (let i = 0; i < outH * outW; i++) out[plane + i] = layer.b[o];
      for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
        const row = ((o * k + ky) * k + kx) * N;
        for (let iy = 0; iy < height; iy++) {
          const y = iy * s - p + ky;
          if (y < 0 || y >= outH) continue;
          for (let ix = 0; ix < width; ix++) {
            const x = ix * s - p + kx;
            if (x >= 0 && x < outW) out[plane + y * outW + x] += columns[row + iy * width + ix];
          }
        }
      }
    }
    return { data: out, channels: O, height: outH, width: outW };
  }

  function linear(layer, input) {
    const out = new Float64Array(layer.out);
    multiply(layer.w, layer.b, input, out, layer.out, layer.in, 1);
    return out;
  }

  /* Runs a list of layers on a tensor {data, channels, height, width} (a flat vector has
     channels = its length and height = width = 1). */
  function run(layers, tensor) {
    for (const layer of layers) {
      const t = tensor;
      if (layer.op === "conv2d") tensor = conv2d(layer, t.data, t.height, t.width);
      else if (layer.op === "conv_transpose2d") tensor = convTranspose2d(layer, t.data, t.height, t.width);
      else if (layer.op === "linear") tensor = { data: linear(layer, t.data), channels: layer.out, height: 1, width: 1 };
      else if (layer.op === "relu") { const d = t.data; for (let i = 0; i < d.length; i++) if (d[i] < 0) d[i] = 0; }
      else if (layer.op === "tanh") { const d = t.data; for (let i = 0; i < d.length; i++) d[i] = Math.tanh(d[i]); }
      else if (layer.op === "flatten") tensor = { data: t.data, channels: t.data.length, height: 1, width: 1 };
      else if (layer.op === "unflatten") {
        const [channels, height, width] = layer.shape.length === 3 ? layer.shape : [layer.shape[0], 1, 1];
        tensor = { data: t.data, channels, height, width };
      } else throw new ModelError("unknown-op", layer.op);
    }
    return tensor;
  }

  /* Weights as doubles (no float32 -> double conversion in the inner loops); a transposed
     convolution's weights (C x O*k*k in PyTorch) are stored transposed, O*k*k x C. */
  function prepare(layer, floats) {
    const slice = ([offset, count]) => Float64Array.from(floats.subarray(offset, offset + count));
    const prepared = Object.assign({}, layer);
    if (layer.weight) prepared.w = slice(layer.weight);
    if (layer.bias) prepared.b = slice(layer.bias);
    if (layer.op === "conv_transpose2d") {
      const rows = layer.out * layer.kernel * layer.kernel, C = layer.in, wt = new Float64Array(rows * C);
      for (let c = 0; c < C; c++) for (let r = 0; r < rows; r++) wt[r * C + c] = prepared.w[c * rows + r];
      prepared.wt = wt;
    }
    return prepared;
  }

  const isCount = (v, least) => Number.isInteger(v) && v >= least;
  /* The number of weights and biases each layer holds, from its shape (PyTorch's layout). */
  const SHAPES = {
    conv2d: (l) => [l.out * l.in * l.kernel * l.kernel, l.out],
    conv_transpose2d: (l) => [l.in * l.out * l.kernel * l.kernel, l.out],
    linear: (l) => [l.out * l.in, l.out],
  };
  const PLAIN = ["relu", "tanh", "flatten", "unflatten"];

  /* Refuse a model the page cannot run as the report trained it: a malformed `model` entry, a
     file whose length is not exactly what the layers' shapes need (cut short, empty, or with
     anything appended), or a weight that is not finite (it would decode a blank image without
     any error). Each refusal is a ModelError naming what is wrong. */
  function check(spec, buffer, name) {
    const malformed = (what, ...values) => new ModelError("malformed", what, ...values);
    if (!spec || typeof spec !== "object") throw malformed("no-model");
    if (spec.dtype !== "float32-le") throw malformed("dtype", String(spec.dtype));
    if (!isCount(spec.latent_dim, 1)) throw malformed("no-latent");
    if (!Array.isArray(spec.encoder) || !Array.isArray(spec.decoder)) throw malformed("no-layers");
    const ranges = [];
    [...spec.encoder, spec.mu, spec.logvar, ...spec.decoder].forEach((layer, index) => {
      const op = layer && layer.op;
      if (PLAIN.includes(op)) return;
      if (!SHAPES[op]) throw op === undefined ? malformed("layer-missing", index) : malformed("layer-op", index, String(op));
      const sizes = ["in", "out", "kernel"].filter((key) => op !== "linear" || key !== "kernel");
      if (!sizes.every((key) => isCount(layer[key], 1))
          || (op !== "linear" && !["stride", "padding"].every((key) => isCount(layer[key], key === "stride" ? 1 : 0)))) {
        throw malformed("layer-shape", index, op);
      }
      SHAPES[op](layer).forEach((expected, part) => {
        const range = layer[part ? "bias" : "weight"];
        if (!Array.isArray(range) || range.length !== 2 || !isCount(range[0], 0) || range[1] !== expected) {
          throw malformed("layer-size", index, op, expected, part === 1);
        }
        ranges.push(range);
      });
    });
    ranges.sort((a, b) => a[0] - b[0]);
    let end = 0;
    for (const [offset, n] of ranges) {
      if (offset !== end) throw malformed("layer-gaps");
      end += n;
    }
    if (buffer.byteLength !== 4 * end) throw new ModelError("file-length", name, buffer.byteLength, 4 * end);
    const floats = new Float32Array(buffer);
    for (let i = 0; i < floats.length; i++) {
      if (!Number.isFinite(floats[i])) throw new ModelError("not-finite", name, i);
    }
    return floats;
  }

  function load(spec, buffer, name) {
    const floats = check(spec, buffer, name || "model.bin");
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new ModelError("big-endian");
    const encoder = spec.encoder.map((layer) => prepare(layer, floats));
    const decoder = spec.decoder.map((layer) => prepare(layer, floats));
    const heads = { mu: prepare(spec.mu, floats), logvar: prepare(spec.logvar, floats) };
    return {
      latentDim: spec.latent_dim,
      encode(x) {
        const features = run(encoder, { data: Float64Array.from(x), channels: 1, height: 28, width: 28 }).data;
        return { mu: linear(heads.mu, features), logvar: linear(heads.logvar, features) };
      },
      decode(z) {
        const logits = run(decoder, { data: Float64Array.from(z), channels: z.length, height: 1, width: 1 }).data;
        const means = new Float64Array(logits.length);
        for (let i = 0; i < logits.length; i++) means[i] = 1 / (1 + Math.exp(-logits[i]));
        return means;
      },
    };
  }

  global.VAEModel = { load, check, ModelError };
})(typeof window !== "undefined" ? window : globalThis);
