// A table of text whose header and cells come from one list of columns, so that the two cannot
// drift apart: the family's images and an operation's versions.

/** A column: its header, and its cell's text for one row. */
export interface Column<T> {
  readonly header: string;
  readonly text: (row: T) => string;
}

/**
 * Gives `table` a header row of `columns` if it has none, and replaces its body with a row per
 * item; `decorate` may mark a row (a class, say).
 */
export function fillTextTable<T>(
  table: HTMLTableElement,
  columns: readonly Column<T>[],
  rows: readonly T[],
  decorate?: (tr: HTMLTableRowElement, row: T) => void,
): void {
  if (table.tHead === null) {
    const header = table.createTHead().insertRow();
    for (const column of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = column.header;
      header.append(th);
    }
  }
  const body = table.tBodies[0] ?? table.createTBody();
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      for (const column of columns) tr.insertCell().textContent = column.text(row);
      decorate?.(tr, row);
      return tr;
    }),
  );
}
