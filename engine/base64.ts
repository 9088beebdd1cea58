/**
 * Bytes as base64 text and back (model files' parameters, the WASM kernels'
 * module), with the runtime's own atob and btoa: no Deno API.
 *
 * @module
 */

/** Bytes as base64 text. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Base64 text as bytes; throws (atob's DOMException) on text base64 does not allow. */
export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
