/**
 * Reading idx files from disk (the file-access side of data/idx.ts).
 *
 * @module
 */
import { readFileBounded } from "./files.ts";
import { gunzipIdx, type Idx, IdxError, isGzip, MAX_IDX_BYTES, parseIdx } from "./idx.ts";

/** Reads an idx file from disk, plain or gzip (detected by content); files over MAX_IDX_BYTES are refused unread. */
export async function readIdxFile(path: string, expectMagic?: number): Promise<Idx> {
  const bytes = await readFileBounded(path, MAX_IDX_BYTES, (problem) => {
    throw new IdxError(`Cannot read idx file "${path}": ${problem}`);
  });
  return isGzip(bytes) ? await gunzipIdx(bytes, path, expectMagic) : parseIdx(bytes, path, expectMagic);
}
