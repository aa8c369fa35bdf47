/** Line numbers for match offsets, computed once per file (binary search over newline offsets). */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let index = text.indexOf("\n"); index !== -1; index = text.indexOf("\n", index + 1))
      this.starts.push(index + 1);
  }

  /** 1-based line of an offset. */
  lineOf(offset: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  }

  /** The text of a 1-based line, without its newline. */
  line(number: number): string {
    const start = this.starts[number - 1] ?? 0;
    const end = this.starts[number] ?? this.text.length + 1;
    return this.text.slice(start, end - 1).replace(/\r$/, "");
  }
}

/** Inline ignore markers, on the line itself (as gitleaks' `gitleaks:allow`). */
export function hasIgnoreComment(line: string): boolean {
  return /bulwark:ignore|bulwark-check:ignore|gitleaks:allow|nosec\b/.test(line);
}
