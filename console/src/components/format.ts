const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });

/** An instant from the API, in the reader's time zone. */
export function formatTime(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

const dateOnly = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium' });

/** A day, e.g. for a time axis. */
export function formatDate(milliseconds: number): string {
  return dateOnly.format(new Date(milliseconds));
}

export function formatNumber(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined ? '—' : Number(value.toFixed(digits)).toString();
}
