/**
 * Prefix trie over Unicode code points, mapping each vocabulary piece to its id and score.
 * Code points (not UTF-16 units) are the symbols, so a piece or input holding an astral character
 * (emoji, rare CJK) is matched one character at a time.
 */
interface TrieNode {
  readonly children: Map<number, TrieNode>;
  /** Id of the piece that ends at this node, or -1 when no piece ends here. */
  pieceId: number;
  pieceScore: number;
}

function newNode(): TrieNode {
  return { children: new Map(), pieceId: -1, pieceScore: 0 };
}

export class PieceTrie {
  private readonly root: TrieNode = newNode();

  /** Adds a piece; inserting the same piece twice keeps the later id and score. */
  insert(codePoints: readonly number[], id: number, score: number): void {
    let node = this.root;
    for (const cp of codePoints) {
      let child = node.children.get(cp);
      if (!child) {
        child = newNode();
        node.children.set(cp, child);
      }
      node = child;
    }
    if (node === this.root) throw new Error('cannot insert an empty piece');
    node.pieceId = id;
    node.pieceScore = score;
  }

  /**
   * Calls `visit(length, id, score)` for every piece that is a prefix of `symbols[start..]`,
   * shortest first. Returns how many pieces matched.
   */
  forEachPrefix(
    symbols: ArrayLike<number>,
    start: number,
    visit: (length: number, id: number, score: number) => void,
  ): number {
    let matched = 0;
    let node: TrieNode | undefined = this.root;
    for (let pos = start; pos < symbols.length; pos++) {
      node = node.children.get(symbols[pos] as number);
      if (!node) break;
      if (node.pieceId >= 0) {
        visit(pos - start + 1, node.pieceId, node.pieceScore);
        matched++;
      }
    }
    return matched;
  }
}

/** Splits a string into code points; a lone surrogate becomes a symbol of its own. */
export function toCodePoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) out.push(ch.codePointAt(0) as number);
  return out;
}
