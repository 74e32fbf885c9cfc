import { useState } from 'react';

/**
 * Forward cursor paging (the API's `first`/`after`) with a way back: the
 * cursors of the pages already seen are kept, so Previous re-asks for one.
 */
export function useCursorPages() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    after: cursors[cursors.length - 1],
    page: cursors.length,
    next: (endCursor: string | null | undefined) => endCursor && setCursors((list) => [...list, endCursor]),
    previous: () => setCursors((list) => (list.length > 1 ? list.slice(0, -1) : list)),
    reset: () => setCursors([undefined]),
  };
}

export function Pager({ pages, hasNextPage, endCursor, total }: { pages: ReturnType<typeof useCursorPages>; hasNextPage: boolean; endCursor: string | null | undefined; total?: number }) {
  return (
    <nav className="actions" aria-label="Pages">
      <button type="button" className="secondary" disabled={pages.page === 1} onClick={pages.previous}>
        Previous page
      </button>
      <span>
        Page {pages.page}
        {total !== undefined ? ` · ${total} in all` : ''}
      </span>
      <button type="button" className="secondary" disabled={!hasNextPage} onClick={() => pages.next(endCursor)}>
        Next page
      </button>
    </nav>
  );
}
