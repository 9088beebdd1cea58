// WebAssembly SIMD kernels of the engine, in AssemblyScript (built by `deno task build:wasm`).
//
// Every function takes byte addresses into the one linear memory the engine
// allocates its buffers in (engine/wasm/backend.ts), and sizes in elements.
// Values are float32 and sums are kept in float32 lanes (f32x4): the JS
// kernels sum in float64, so results differ in the last bits; the tests hold
// each kernel to the reference kernels within stated tolerances.
//
// Scratch space: the caller passes `tmp`, an address of enough free bytes
// (each kernel says how many), so the module allocates nothing itself.

// ---------------------------------------------------------------------------
// Helpers

@inline function f(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

@inline function setf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}

@inline function vld(p: usize, i: i32): v128 {
  return v128.load(p + (<usize>i << 2));
}

@inline function vst(p: usize, i: i32, v: v128): void {
  v128.store(p + (<usize>i << 2), v);
}

@inline function splat(p: usize, i: i32): v128 {
  return v128.load32_splat(p + (<usize>i << 2));
}

@inline function fma(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}

@inline function hsum(v: v128): f32 {
  // Pairwise, in a fixed order: (l0 + l2) + (l1 + l3).
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

// Lanes [0, k) set, the others clear: masks a partial block of k < 4 values.
@inline function laneMask(k: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(k));
}

// ---------------------------------------------------------------------------
// Dense: y = W x + b (W is units x m, row-major), for n samples.

// y[b, u] = bias[u] + sum_j W[u, j] x[b, j]. Four rows of W share each load of x.
export function denseForward(x: usize, W: usize, bias: usize, y: usize, n: i32, m: i32, units: i32): void {
  const m4 = m & ~3;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * m) << 2), yb = y + (<usize>(b * units) << 2);
    let u = 0;
    for (; u + 4 <= units; u += 4) {
      const r0 = W + (<usize>(u * m) << 2), r1 = r0 + (<usize>m << 2), r2 = r1 + (<usize>m << 2), r3 = r2 + (<usize>m << 2);
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let j = 0; j < m4; j += 4) {
        const v = vld(xb, j);
        a0 = fma(a0, vld(r0, j), v);
        a1 = fma(a1, vld(r1, j), v);
        a2 = fma(a2, vld(r2, j), v);
        a3 = fma(a3, vld(r3, j), v);
      }
      let s0 = f(bias, u) + hsum(a0), s1 = f(bias, u + 1) + hsum(a1);
      let s2 = f(bias, u + 2) + hsum(a2), s3 = f(bias, u + 3) + hsum(a3);
      for (let j = m4; j < m; j++) {
        const v = f(xb, j);
        s0 += f(r0, j) * v;
        s1 += f(r1, j) * v;
        s2 += f(r2, j) * v;
        s3 += f(r3, j) * v;
      }
      setf(yb, u, s0);
      setf(yb, u + 1, s1);
      setf(yb, u + 2, s2);
      setf(yb, u + 3, s3);
    }
    for (; u < units; u++) {
      const r = W + (<usize>(u * m) << 2);
      let a = f32x4.splat(0);
      for (let j = 0; j < m4; j += 4) a = fma(a, vld(r, j), vld(xb, j));
      let s = f(bias, u) + hsum(a);
      for (let j = m4; j < m; j++) s += f(r, j) * f(xb, j);
      setf(yb, u, s);
    }
  }
}

// gW[u, j] += sum_b d[b, u] x[b, j]; gb[u] += sum_b d[b, u]; dx[b, j] += sum_u W[u, j] d[b, u] (dx = 0: none).
export function denseBackward(x: usize, W: usize, d: usize, dx: usize, gW: usize, gb: usize, n: i32, m: i32, units: i32): void {
  const m4 = m & ~3;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * m) << 2), db = d + (<usize>(b * units) << 2);
    const dxb = dx + (<usize>(b * m) << 2);
    for (let u = 0; u < units; u++) {
      const g = f(db, u);
      setf(gb, u, f(gb, u) + g);
      if (g == 0) continue;
      const gv = f32x4.splat(g);
      const r = W + (<usize>(u * m) << 2), gr = gW + (<usize>(u * m) << 2);
      if (dx != 0) {
        for (let j = 0; j < m4; j += 4) {
          vst(gr, j, fma(vld(gr, j), gv, vld(xb, j)));
          vst(dxb, j, fma(vld(dxb, j), gv, vld(r, j)));
        }
        for (let j = m4; j < m; j++) {
          setf(gr, j, f(gr, j) + g * f(xb, j));
          setf(dxb, j, f(dxb, j) + g * f(r, j));
        }
      } else {
        for (let j = 0; j < m4; j += 4) vst(gr, j, fma(vld(gr, j), gv, vld(xb, j)));
        for (let j = m4; j < m; j++) setf(gr, j, f(gr, j) + g * f(xb, j));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// 5x5 convolution, stride 1, no padding, over a list of connected pairs.
//
// Pairs are numbered by output map, then input map (conv2d.ts): output map o
// owns the pairs start[o] .. start[o+1], pair e reads input map inputs[e] and
// owns the 25 weights at W + 25 e. Input maps are h x w, outputs (h-4) x (w-4).

// y = bias + sum over o's pairs of the valid correlation. Each block of four
// output columns sums every pair in registers and is stored once; the last
// block of a row starts at wo - 4 (overlapping the one before: the same sums
// in the same order, so the same values) when wo is not a multiple of 4.
// Four output rows go together, so that four independent sums fill the
// pipeline and each weight is loaded once for them. Rows narrower than 4
// take the scalar path.
export function conv5Forward(
  x: usize, W: usize, bias: usize, y: usize, n: i32,
  inMaps: i32, h: i32, w: i32, maps: i32, start: usize, inputs: usize,
): void {
  const ho = h - 4, wo = w - 4, hw = h * w, ohw = ho * wo;
  const row = <usize>w << 2;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * inMaps * hw) << 2), yb = y + (<usize>(b * maps * ohw) << 2);
    for (let o = 0; o < maps; o++) {
      const e0 = load<i32>(start + (<usize>o << 2)), e1 = load<i32>(start + (<usize>(o + 1) << 2));
      const bo = f32x4.splat(f(bias, o));
      const yo = yb + (<usize>(o * ohw) << 2);
      if (wo < 4) {
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            let s = f(bias, o);
            for (let e = e0; e < e1; e++) {
              const xi = xb + (<usize>(load<i32>(inputs + (<usize>e << 2)) * hw) << 2);
              const k = W + (<usize>(e * 25) << 2);
              for (let ky = 0; ky < 5; ky++) {
                for (let kx = 0; kx < 5; kx++) s += f(k, ky * 5 + kx) * f(xi, (oy + ky) * w + ox + kx);
              }
            }
            setf(yo, oy * wo + ox, s);
          }
        }
        continue;
      }
      let oy = 0;
      for (; oy + 4 <= ho; oy += 4) {
        for (let ox0 = 0; ox0 < wo; ox0 += 4) {
          const ox = ox0 + 4 <= wo ? ox0 : wo - 4;
          let a0 = bo, a1 = bo, a2 = bo, a3 = bo;
          for (let e = e0; e < e1; e++) {
            const xi = xb + (<usize>(load<i32>(inputs + (<usize>e << 2)) * hw) << 2);
            const k = W + (<usize>(e * 25) << 2);
            for (let ky = 0; ky < 5; ky++) {
              const kr = k + (<usize>(ky * 5) << 2);
              const w0 = splat(kr, 0), w1 = splat(kr, 1), w2 = splat(kr, 2), w3 = splat(kr, 3), w4 = splat(kr, 4);
              const r0 = xi + (<usize>((oy + ky) * w + ox) << 2), r1 = r0 + row, r2 = r1 + row, r3 = r2 + row;
              a0 = fma(a0, v128.load(r0), w0);
              a1 = fma(a1, v128.load(r1), w0);
              a2 = fma(a2, v128.load(r2), w0);
              a3 = fma(a3, v128.load(r3), w0);
              a0 = fma(a0, v128.load(r0, 4), w1);
              a1 = fma(a1, v128.load(r1, 4), w1);
              a2 = fma(a2, v128.load(r2, 4), w1);
              a3 = fma(a3, v128.load(r3, 4), w1);
              a0 = fma(a0, v128.load(r0, 8), w2);
              a1 = fma(a1, v128.load(r1, 8), w2);
              a2 = fma(a2, v128.load(r2, 8), w2);
              a3 = fma(a3, v128.load(r3, 8), w2);
              a0 = fma(a0, v128.load(r0, 12), w3);
              a1 = fma(a1, v128.load(r1, 12), w3);
              a2 = fma(a2, v128.load(r2, 12), w3);
              a3 = fma(a3, v128.load(r3, 12), w3);
              a0 = fma(a0, v128.load(r0, 16), w4);
              a1 = fma(a1, v128.load(r1, 16), w4);
              a2 = fma(a2, v128.load(r2, 16), w4);
              a3 = fma(a3, v128.load(r3, 16), w4);
            }
          }
          vst(yo, oy * wo + ox, a0);
          vst(yo, (oy + 1) * wo + ox, a1);
          vst(yo, (oy + 2) * wo + ox, a2);
          vst(yo, (oy + 3) * wo + ox, a3);
        }
      }
      for (; oy < ho; oy++) {
        for (let ox0 = 0; ox0 < wo; ox0 += 4) {
          const ox = ox0 + 4 <= wo ? ox0 : wo - 4;
          let acc = bo;
          for (let e = e0; e < e1; e++) {
            const xi = xb + (<usize>(load<i32>(inputs + (<usize>e << 2)) * hw) << 2);
            const k = W + (<usize>(e * 25) << 2);
            for (let ky = 0; ky < 5; ky++) {
              const xr = xi + (<usize>((oy + ky) * w + ox) << 2);
              const kr = k + (<usize>(ky * 5) << 2);
              acc = fma(acc, v128.load(xr), splat(kr, 0));
              acc = fma(acc, v128.load(xr, 4), splat(kr, 1));
              acc = fma(acc, v128.load(xr, 8), splat(kr, 2));
              acc = fma(acc, v128.load(xr, 12), splat(kr, 3));
              acc = fma(acc, v128.load(xr, 16), splat(kr, 4));
            }
          }
          vst(yo, oy * wo + ox, acc);
        }
      }
    }
  }
}

// Weight and bias gradients, and (dx != 0) the input gradient:
//   gW[e, ky, kx] += sum_{oy, ox} d[o, oy, ox] x[i, oy + ky, ox + kx]
//   gb[o] += sum d[o]
//   dx[i, y, x] += sum_{e of i} sum_{ky, kx} W[e, ky, kx] d[o, y - ky, x - kx]
// With x squared, W squared and d2E/dy2 for d, the same sums are the
// Gauss-Newton second derivatives.
//
// tmp: 4 * (maps * (ho + 8) * (wo2 + 8) + h * w4) bytes, with wo2 and w4 the
// row widths rounded up to a multiple of 4: each output map's d, zero-padded
// by 4 on every side (so the full convolution needs no bounds), and one input
// map's dx in rows of w4.
export function conv5Backward(
  x: usize, W: usize, d: usize, dx: usize, gW: usize, gb: usize, n: i32,
  inMaps: i32, h: i32, w: i32, maps: i32, inputStart: usize, byInput: usize, outputOf: usize, tmp: usize,
): void {
  const ho = h - 4, wo = w - 4, hw = h * w, ohw = ho * wo;
  const wo4 = (wo + 3) & ~3;
  const ph = ho + 8, pw = wo4 + 8, pmap = ph * pw;
  const w4 = (w + 3) & ~3;
  const dpad = tmp, acc = tmp + (<usize>(maps * pmap) << 2);
  const tail = wo - (wo4 - 4); // lanes used by each row's last block
  const lastMask = laneMask(tail);
  if (dx != 0) memory.fill(dpad, 0, <usize>(maps * pmap) << 2);
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * inMaps * hw) << 2), db = d + (<usize>(b * maps * ohw) << 2);
    // Bias sums, and d copied into its padded maps for the input gradient.
    for (let o = 0; o < maps; o++) {
      const dof = db + (<usize>(o * ohw) << 2);
      let s: f32 = 0;
      for (let p = 0; p < ohw; p++) s += f(dof, p);
      setf(gb, o, f(gb, o) + s);
      if (dx != 0) {
        const pm = dpad + (<usize>(o * pmap) << 2);
        for (let oy = 0; oy < ho; oy++) memory.copy(pm + (<usize>((oy + 4) * pw + 4) << 2), dof + (<usize>(oy * wo) << 2), <usize>wo << 2);
      }
    }
    for (let i = 0; i < inMaps; i++) {
      const xi = xb + (<usize>(i * hw) << 2);
      const q0 = load<i32>(inputStart + (<usize>i << 2)), q1 = load<i32>(inputStart + (<usize>(i + 1) << 2));
      // Weight gradients of the pairs fed by input map i: five sums per kernel row, vectorized along ox.
      for (let q = q0; q < q1; q++) {
        const e = load<i32>(byInput + (<usize>q << 2));
        const dof = db + (<usize>(load<i32>(outputOf + (<usize>e << 2)) * ohw) << 2);
        const g = gW + (<usize>(e * 25) << 2);
        for (let ky = 0; ky < 5; ky++) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
          for (let oy = 0; oy < ho; oy++) {
            const xr = xi + (<usize>((oy + ky) * w) << 2), dr = dof + (<usize>(oy * wo) << 2);
            let ox = 0;
            for (; ox + 4 <= wo; ox += 4) {
              const dv = vld(dr, ox), xp = xr + (<usize>ox << 2);
              a0 = fma(a0, dv, v128.load(xp));
              a1 = fma(a1, dv, v128.load(xp, 4));
              a2 = fma(a2, dv, v128.load(xp, 8));
              a3 = fma(a3, dv, v128.load(xp, 12));
              a4 = fma(a4, dv, v128.load(xp, 16));
            }
            if (ox < wo) {
              // The partial block: the products of lanes past the row are masked off (they may read past x).
              const dv = vld(dr, ox), xp = xr + (<usize>ox << 2);
              a0 = f32x4.add(a0, v128.and(f32x4.mul(dv, v128.load(xp)), lastMask));
              a1 = f32x4.add(a1, v128.and(f32x4.mul(dv, v128.load(xp, 4)), lastMask));
              a2 = f32x4.add(a2, v128.and(f32x4.mul(dv, v128.load(xp, 8)), lastMask));
              a3 = f32x4.add(a3, v128.and(f32x4.mul(dv, v128.load(xp, 12)), lastMask));
              a4 = f32x4.add(a4, v128.and(f32x4.mul(dv, v128.load(xp, 16)), lastMask));
            }
          }
          const r = ky * 5;
          setf(g, r, f(g, r) + hsum(a0));
          setf(g, r + 1, f(g, r + 1) + hsum(a1));
          setf(g, r + 2, f(g, r + 2) + hsum(a2));
          setf(g, r + 3, f(g, r + 3) + hsum(a3));
          setf(g, r + 4, f(g, r + 4) + hsum(a4));
        }
      }
      if (dx == 0) continue;
      // Input gradient of map i: the full convolution of each connected d with its kernel, four columns at a
      // time; four rows together (independent sums, each weight loaded once for them), then one at a time.
      let y0 = 0;
      for (; y0 + 4 <= h; y0 += 4) {
        for (let x0 = 0; x0 < w4; x0 += 4) {
          let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let q = q0; q < q1; q++) {
            const e = load<i32>(byInput + (<usize>q << 2));
            const pm = dpad + (<usize>(load<i32>(outputOf + (<usize>e << 2)) * pmap) << 2);
            const k = W + (<usize>(e * 25) << 2);
            for (let ky = 0; ky < 5; ky++) {
              const kr = k + (<usize>(ky * 5) << 2);
              const w0 = splat(kr, 0), w1 = splat(kr, 1), w2 = splat(kr, 2), w3 = splat(kr, 3), w4 = splat(kr, 4);
              const p0 = pm + (<usize>((y0 - ky + 4) * pw + x0 + 4) << 2), prow = <usize>pw << 2;
              const p1 = p0 + prow, p2 = p1 + prow, p3 = p2 + prow;
              s0 = fma(s0, v128.load(p0), w0);
              s1 = fma(s1, v128.load(p1), w0);
              s2 = fma(s2, v128.load(p2), w0);
              s3 = fma(s3, v128.load(p3), w0);
              s0 = fma(s0, v128.load(p0 - 4), w1);
              s1 = fma(s1, v128.load(p1 - 4), w1);
              s2 = fma(s2, v128.load(p2 - 4), w1);
              s3 = fma(s3, v128.load(p3 - 4), w1);
              s0 = fma(s0, v128.load(p0 - 8), w2);
              s1 = fma(s1, v128.load(p1 - 8), w2);
              s2 = fma(s2, v128.load(p2 - 8), w2);
              s3 = fma(s3, v128.load(p3 - 8), w2);
              s0 = fma(s0, v128.load(p0 - 12), w3);
              s1 = fma(s1, v128.load(p1 - 12), w3);
              s2 = fma(s2, v128.load(p2 - 12), w3);
              s3 = fma(s3, v128.load(p3 - 12), w3);
              s0 = fma(s0, v128.load(p0 - 16), w4);
              s1 = fma(s1, v128.load(p1 - 16), w4);
              s2 = fma(s2, v128.load(p2 - 16), w4);
              s3 = fma(s3, v128.load(p3 - 16), w4);
            }
          }
          vst(acc, y0 * w4 + x0, s0);
          vst(acc, (y0 + 1) * w4 + x0, s1);
          vst(acc, (y0 + 2) * w4 + x0, s2);
          vst(acc, (y0 + 3) * w4 + x0, s3);
        }
      }
      for (; y0 < h; y0++) {
        for (let x0 = 0; x0 < w4; x0 += 4) {
          let s = f32x4.splat(0);
          for (let q = q0; q < q1; q++) {
            const e = load<i32>(byInput + (<usize>q << 2));
            const pm = dpad + (<usize>(load<i32>(outputOf + (<usize>e << 2)) * pmap) << 2);
            const k = W + (<usize>(e * 25) << 2);
            for (let ky = 0; ky < 5; ky++) {
              // d[o, y0 - ky, x0 - kx + lane] sits at padded row y0 - ky + 4, column x0 - kx + 4 + lane.
              const pr = pm + (<usize>((y0 - ky + 4) * pw + x0 + 4) << 2);
              const kr = k + (<usize>(ky * 5) << 2);
              s = fma(s, v128.load(pr), splat(kr, 0));
              s = fma(s, v128.load(pr - 4), splat(kr, 1));
              s = fma(s, v128.load(pr - 8), splat(kr, 2));
              s = fma(s, v128.load(pr - 12), splat(kr, 3));
              s = fma(s, v128.load(pr - 16), splat(kr, 4));
            }
          }
          vst(acc, y0 * w4 + x0, s);
        }
      }
      const dxi = dx + (<usize>((b * inMaps + i) * hw) << 2);
      for (let y0 = 0; y0 < h; y0++) {
        for (let x0 = 0; x0 < w; x0++) setf(dxi, y0 * w + x0, f(dxi, y0 * w + x0) + f(acc, y0 * w4 + x0));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Element-wise helpers the Gauss-Newton passes use.

// out[i] = a[i]^2 for i < count.
export function squares(a: usize, out: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const v = vld(a, i);
    vst(out, i, f32x4.mul(v, v));
  }
  for (; i < count; i++) setf(out, i, f(a, i) * f(a, i));
}

// ---------------------------------------------------------------------------
// The SDLM update: params[k] -= steps[k] * grads[k], in double precision and
// rounded once to float32, as the JS loop does (so the two are bit-identical).
// steps holds float64 values.
export function scaledStep(params: usize, steps: usize, grads: usize, count: i32): void {
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    const p = vld(params, k), g = vld(grads, k);
    const s = steps + (<usize>k << 3);
    const lo = f64x2.sub(f64x2.promote_low_f32x4(p), f64x2.mul(v128.load(s), f64x2.promote_low_f32x4(g)));
    const p2 = v128.shuffle<f32>(p, p, 2, 3, 0, 1), g2 = v128.shuffle<f32>(g, g, 2, 3, 0, 1);
    const hi = f64x2.sub(f64x2.promote_low_f32x4(p2), f64x2.mul(v128.load(s, 16), f64x2.promote_low_f32x4(g2)));
    const a = f32x4.demote_f64x2_zero(lo), b = f32x4.demote_f64x2_zero(hi);
    vst(params, k, v128.shuffle<f32>(a, b, 0, 1, 4, 5));
  }
  for (; k < count; k++) {
    setf(params, k, <f32>(<f64>f(params, k) - load<f64>(steps + (<usize>k << 3)) * <f64>f(grads, k)));
  }
}

// ---------------------------------------------------------------------------
// Scaled tanh y = A tanh(S x) (squash: A = 1.7159, S = 2/3; tanh: A = S = 1),
// with the odd rational approximation of layers/activations.ts (tanh32) in
// float32 lanes, and its derivatives from y: f' = (S / A) (A^2 - y^2).

@inline function tanhv(v: v128): v128 {
  const t = f32x4.min(f32x4.max(v, f32x4.splat(-9)), f32x4.splat(9));
  const s = f32x4.mul(t, t);
  let p = f32x4.splat(<f32>-2.76076847742355e-16);
  p = fma(f32x4.splat(<f32>2.00018790482477e-13), p, s);
  p = fma(f32x4.splat(<f32>-8.60467152213735e-11), p, s);
  p = fma(f32x4.splat(<f32>5.12229709037114e-8), p, s);
  p = fma(f32x4.splat(<f32>1.48572235717979e-5), p, s);
  p = fma(f32x4.splat(<f32>6.37261928875436e-4), p, s);
  p = fma(f32x4.splat(<f32>4.89352455891786e-3), p, s);
  p = f32x4.mul(p, t);
  let q = f32x4.splat(<f32>1.19825839466702e-6);
  q = fma(f32x4.splat(<f32>1.18534705686654e-4), q, s);
  q = fma(f32x4.splat(<f32>2.268434632439e-3), q, s);
  q = fma(f32x4.splat(<f32>4.89352518554385e-3), q, s);
  return f32x4.div(p, q);
}

// y = A tanh(S x) for count values.
export function scaledTanhForward(x: usize, y: usize, count: i32, A: f32, S: f32): void {
  const av = f32x4.splat(A), sv = f32x4.splat(S);
  let i = 0;
  for (; i + 4 <= count; i += 4) vst(y, i, f32x4.mul(av, tanhv(f32x4.mul(sv, vld(x, i)))));
  for (; i < count; i++) {
    const v = f32x4.mul(av, tanhv(f32x4.mul(sv, f32x4.splat(f(x, i)))));
    setf(y, i, f32x4.extract_lane(v, 0));
  }
}

// dx += (S / A)(A^2 - y^2) dy; with square != 0, d2x += ((S / A)(A^2 - y^2))^2 d2y instead.
export function scaledTanhBackward(y: usize, dy: usize, dx: usize, count: i32, A: f32, S: f32, square: i32): void {
  const r = f32x4.splat(S / A), a2 = f32x4.splat(A * A);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const v = vld(y, i);
    let d = f32x4.mul(r, f32x4.sub(a2, f32x4.mul(v, v)));
    if (square) d = f32x4.mul(d, d);
    vst(dx, i, fma(vld(dx, i), d, vld(dy, i)));
  }
  for (; i < count; i++) {
    const v = f(y, i);
    let d = (S / A) * (A * A - v * v);
    if (square) d = d * d;
    setf(dx, i, f(dx, i) + d * f(dy, i));
  }
}

// ---------------------------------------------------------------------------
// Trainable subsampling (S2, S4) with 2x2 windows and stride 2 on maps of
// even width: y = coef[m] (sum of the window) + bias[m].

// Sums of adjacent pairs of two rows: for 8 values of row a and row b, the 4 window sums.
@inline function pairSums(a0: v128, a1: v128, b0: v128, b1: v128): v128 {
  const u = f32x4.add(a0, b0), v = f32x4.add(a1, b1);
  return f32x4.add(v128.shuffle<f32>(u, v, 0, 2, 4, 6), v128.shuffle<f32>(u, v, 1, 3, 5, 7));
}

export function subsample2Forward(x: usize, coef: usize, bias: usize, y: usize, n: i32, maps: i32, h: i32, w: i32): void {
  const ho = h >> 1, wo = w >> 1;
  for (let b = 0; b < n; b++) {
    for (let m = 0; m < maps; m++) {
      const xm = x + (<usize>((b * maps + m) * h * w) << 2), ym = y + (<usize>((b * maps + m) * ho * wo) << 2);
      const c = f(coef, m), bb = f(bias, m);
      const cv = f32x4.splat(c), bv = f32x4.splat(bb);
      for (let oy = 0; oy < ho; oy++) {
        const r0 = xm + (<usize>(2 * oy * w) << 2), r1 = r0 + (<usize>w << 2), yr = ym + (<usize>(oy * wo) << 2);
        let ox = 0;
        for (; ox + 4 <= wo; ox += 4) {
          const s = pairSums(vld(r0, 2 * ox), vld(r0, 2 * ox + 4), vld(r1, 2 * ox), vld(r1, 2 * ox + 4));
          vst(yr, ox, fma(bv, cv, s));
        }
        for (; ox < wo; ox++) {
          const s = (f(r0, 2 * ox) + f(r1, 2 * ox)) + (f(r0, 2 * ox + 1) + f(r1, 2 * ox + 1));
          setf(yr, ox, bb + c * s);
        }
      }
    }
  }
}

// gcoef[m] += sum d (window sum), gbias[m] += sum d, dx (if not 0) += coef[m] d over each window.
// With square != 0 (Gauss-Newton, appendix C: x^2 per connection of the shared coefficient):
// hcoef += sum d2 (sum of the window's x^2), hbias += sum d2, d2x += coef^2 d2.
export function subsample2Backward(
  x: usize, coef: usize, d: usize, dx: usize, gc: usize, gb: usize, n: i32, maps: i32, h: i32, w: i32, square: i32,
): void {
  const ho = h >> 1, wo = w >> 1;
  for (let b = 0; b < n; b++) {
    for (let m = 0; m < maps; m++) {
      const xm = x + (<usize>((b * maps + m) * h * w) << 2), dm = d + (<usize>((b * maps + m) * ho * wo) << 2);
      const dxm = dx + (<usize>((b * maps + m) * h * w) << 2);
      let c = f(coef, m);
      if (square) c = c * c;
      const cv = f32x4.splat(c);
      let sc = f32x4.splat(0), sb = f32x4.splat(0);
      let tc: f32 = 0, tb: f32 = 0;
      for (let oy = 0; oy < ho; oy++) {
        const r0 = xm + (<usize>(2 * oy * w) << 2), r1 = r0 + (<usize>w << 2), dr = dm + (<usize>(oy * wo) << 2);
        const q0 = dxm + (<usize>(2 * oy * w) << 2), q1 = q0 + (<usize>w << 2);
        let ox = 0;
        for (; ox + 4 <= wo; ox += 4) {
          const g = vld(dr, ox);
          const a0 = vld(r0, 2 * ox), a1 = vld(r0, 2 * ox + 4), b0 = vld(r1, 2 * ox), b1 = vld(r1, 2 * ox + 4);
          const s = square
            ? pairSums(f32x4.mul(a0, a0), f32x4.mul(a1, a1), f32x4.mul(b0, b0), f32x4.mul(b1, b1))
            : pairSums(a0, a1, b0, b1);
          sc = fma(sc, g, s);
          sb = f32x4.add(sb, g);
          if (dx != 0) {
            const gx = f32x4.mul(g, cv);
            const lo = v128.shuffle<f32>(gx, gx, 0, 0, 1, 1), hi = v128.shuffle<f32>(gx, gx, 2, 2, 3, 3);
            vst(q0, 2 * ox, f32x4.add(vld(q0, 2 * ox), lo));
            vst(q0, 2 * ox + 4, f32x4.add(vld(q0, 2 * ox + 4), hi));
            vst(q1, 2 * ox, f32x4.add(vld(q1, 2 * ox), lo));
            vst(q1, 2 * ox + 4, f32x4.add(vld(q1, 2 * ox + 4), hi));
          }
        }
        for (; ox < wo; ox++) {
          const g = f(dr, ox);
          const a0 = f(r0, 2 * ox), a1 = f(r0, 2 * ox + 1), b0 = f(r1, 2 * ox), b1 = f(r1, 2 * ox + 1);
          const s = square ? (a0 * a0 + b0 * b0) + (a1 * a1 + b1 * b1) : (a0 + b0) + (a1 + b1);
          tc += g * s;
          tb += g;
          if (dx != 0) {
            const gx = g * c;
            setf(q0, 2 * ox, f(q0, 2 * ox) + gx);
            setf(q0, 2 * ox + 1, f(q0, 2 * ox + 1) + gx);
            setf(q1, 2 * ox, f(q1, 2 * ox) + gx);
            setf(q1, 2 * ox + 1, f(q1, 2 * ox + 1) + gx);
          }
        }
      }
      setf(gc, m, f(gc, m) + hsum(sc) + tc);
      setf(gb, m, f(gb, m) + hsum(sb) + tb);
    }
  }
}

// ---------------------------------------------------------------------------
// ReLU: y = max(x, 0); dx += dy where x > 0 (the Gauss-Newton pass the same on d2).

export function reluForward(x: usize, y: usize, count: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= count; i += 4) vst(y, i, f32x4.max(vld(x, i), zero));
  for (; i < count; i++) setf(y, i, max<f32>(f(x, i), 0));
}

export function reluBackward(x: usize, dy: usize, dx: usize, count: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    vst(dx, i, f32x4.add(vld(dx, i), v128.and(vld(dy, i), f32x4.gt(vld(x, i), zero))));
  }
  for (; i < count; i++) if (f(x, i) > 0) setf(dx, i, f(dx, i) + f(dy, i));
}

// ---------------------------------------------------------------------------
// Max pooling with 2x2 windows, stride 2, on maps of even width. The
// derivative goes to the window's first maximum in the order top-left,
// top-right, bottom-left, bottom-right (the JS kernels' order).

export function maxpool2Forward(x: usize, y: usize, planes: i32, h: i32, w: i32): void {
  const ho = h >> 1, wo = w >> 1;
  for (let p = 0; p < planes; p++) {
    const xm = x + (<usize>(p * h * w) << 2), ym = y + (<usize>(p * ho * wo) << 2);
    for (let oy = 0; oy < ho; oy++) {
      const r0 = xm + (<usize>(2 * oy * w) << 2), r1 = r0 + (<usize>w << 2), yr = ym + (<usize>(oy * wo) << 2);
      let ox = 0;
      for (; ox + 4 <= wo; ox += 4) {
        const a0 = vld(r0, 2 * ox), a1 = vld(r0, 2 * ox + 4), b0 = vld(r1, 2 * ox), b1 = vld(r1, 2 * ox + 4);
        const tl = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6), tr = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
        const bl = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6), br = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        const u = v128.bitselect(tr, tl, f32x4.gt(tr, tl)), v = v128.bitselect(br, bl, f32x4.gt(br, bl));
        vst(yr, ox, v128.bitselect(v, u, f32x4.gt(v, u)));
      }
      for (; ox < wo; ox++) {
        const a = f(r0, 2 * ox), b = f(r0, 2 * ox + 1), c = f(r1, 2 * ox), d = f(r1, 2 * ox + 1);
        const u = b > a ? b : a, v = d > c ? d : c;
        setf(yr, ox, v > u ? v : u);
      }
    }
  }
}

export function maxpool2Backward(x: usize, d: usize, dx: usize, planes: i32, h: i32, w: i32): void {
  const ho = h >> 1, wo = w >> 1;
  for (let p = 0; p < planes; p++) {
    const xm = x + (<usize>(p * h * w) << 2), dm = d + (<usize>(p * ho * wo) << 2);
    const qm = dx + (<usize>(p * h * w) << 2);
    for (let oy = 0; oy < ho; oy++) {
      const r0 = xm + (<usize>(2 * oy * w) << 2), r1 = r0 + (<usize>w << 2), dr = dm + (<usize>(oy * wo) << 2);
      const q0 = qm + (<usize>(2 * oy * w) << 2), q1 = q0 + (<usize>w << 2);
      let ox = 0;
      for (; ox + 4 <= wo; ox += 4) {
        const a0 = vld(r0, 2 * ox), a1 = vld(r0, 2 * ox + 4), b0 = vld(r1, 2 * ox), b1 = vld(r1, 2 * ox + 4);
        const tl = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6), tr = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
        const bl = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6), br = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        const top = f32x4.gt(tr, tl), bottom = f32x4.gt(br, bl);
        const u = v128.bitselect(tr, tl, top), v = v128.bitselect(br, bl, bottom);
        const lower = f32x4.gt(v, u);
        const g = vld(dr, ox);
        const gu = v128.andnot(g, lower), gv = v128.and(g, lower);
        const gtl = v128.andnot(gu, top), gtr = v128.and(gu, top);
        const gbl = v128.andnot(gv, bottom), gbr = v128.and(gv, bottom);
        vst(q0, 2 * ox, f32x4.add(vld(q0, 2 * ox), v128.shuffle<f32>(gtl, gtr, 0, 4, 1, 5)));
        vst(q0, 2 * ox + 4, f32x4.add(vld(q0, 2 * ox + 4), v128.shuffle<f32>(gtl, gtr, 2, 6, 3, 7)));
        vst(q1, 2 * ox, f32x4.add(vld(q1, 2 * ox), v128.shuffle<f32>(gbl, gbr, 0, 4, 1, 5)));
        vst(q1, 2 * ox + 4, f32x4.add(vld(q1, 2 * ox + 4), v128.shuffle<f32>(gbl, gbr, 2, 6, 3, 7)));
      }
      for (; ox < wo; ox++) {
        const a = f(r0, 2 * ox), b = f(r0, 2 * ox + 1), c = f(r1, 2 * ox), dd = f(r1, 2 * ox + 1);
        const top = b > a, bottom = dd > c;
        const u = top ? b : a, v = bottom ? dd : c;
        const g = f(dr, ox);
        if (v > u) {
          if (bottom) setf(q1, 2 * ox + 1, f(q1, 2 * ox + 1) + g);
          else setf(q1, 2 * ox, f(q1, 2 * ox) + g);
        } else if (top) setf(q0, 2 * ox + 1, f(q0, 2 * ox + 1) + g);
        else setf(q0, 2 * ox, f(q0, 2 * ox) + g);
      }
    }
  }
}
