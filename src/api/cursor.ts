/**
 * Keyset pagination cursors for article listings: the (published_at, id) of the last row
 * returned, as opaque base64url. Newest first, so the next page is strictly older.
 */
export interface ArticleKey {
  publishedAt: Date;
  id: number;
}

export function encodeCursor(key: ArticleKey): string {
  return Buffer.from(`${key.publishedAt.toISOString()}|${key.id}`).toString('base64url');
}

/** The key, or null when the text is not a cursor this API made. */
export function decodeCursor(text: string): ArticleKey | null {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(\d{1,18})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) return null;
  const publishedAt = new Date(match[1]!);
  const id = Number(match[2]);
  if (Number.isNaN(publishedAt.getTime()) || !Number.isSafeInteger(id)) return null;
  return { publishedAt, id };
}
