/**
 * RFC 4180 CSV for the table-shaped endpoints: a header row, CRLF line ends, fields quoted
 * when they hold a comma, quote or line break. Cells that a spreadsheet would run as a
 * formula (= + - @ at the start of text) are prefixed with a quote (OWASP "CSV injection");
 * numbers are written as numbers.
 */
export type Cell = string | number | boolean | null | undefined;

function field(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: readonly string[], rows: Iterable<readonly Cell[]>): string {
  const lines = [columns.map(field).join(',')];
  for (const row of rows) lines.push(row.map(field).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Objects to CSV with their keys as the header (the order of `columns`). */
export function objectsToCsv<T extends Record<string, unknown>>(columns: readonly (keyof T & string)[], rows: readonly T[]): string {
  return toCsv(columns, rows.map((r) => columns.map((c) => cellOf(r[c]))));
}

function cellOf(value: unknown): Cell {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}
