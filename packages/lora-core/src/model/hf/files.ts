/** How the HF loader reads a checkpoint directory: fs in Node, fetch (and Cache Storage) in a page. */

/** Bytes of `relativePath` inside the checkpoint directory, or null when the file does not exist. */
export type ReadFile = (relativePath: string) => Promise<ArrayBuffer | null>;

export async function readRequired(read: ReadFile, rel: string, why: string): Promise<ArrayBuffer> {
  const b = await read(rel);
  if (b === null) throw new Error(`${rel} is missing from the model directory (${why})`);
  return b;
}

export async function readJson(read: ReadFile, rel: string): Promise<unknown | null> {
  const b = await read(rel);
  if (b === null) return null;
  try {
    return JSON.parse(new TextDecoder().decode(b));
  } catch (e) {
    throw new Error(`${rel} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}
