import { useQuery } from '@tanstack/react-query';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { VerifyAuditChainDocument } from '../generated/graphql.ts';

/** The audit ledger's state as the API reports it today: a full walk of the hash chain. */
export function LedgerPage() {
  const chain = useQuery({ queryKey: ['VerifyAuditChain'], queryFn: () => request(VerifyAuditChainDocument), enabled: false });
  const result = chain.data?.verifyAuditChain;
  return (
    <>
      <h1>Audit ledger</h1>
      <p className="hint">Walks the whole hash chain on the server and reports the first altered, unlinked or missing record. Keep the head hash outside the database to detect a rewritten tail later.</p>
      <div className="actions">
        <button type="button" onClick={() => void chain.refetch()} disabled={chain.isFetching}>
          {chain.isFetching ? 'Verifying…' : 'Verify the chain'}
        </button>
      </div>
      <ErrorNotice error={chain.error} />
      {result && (
        <section className="panel" aria-labelledby="chain-heading">
          <h2 id="chain-heading">{result.intact ? 'Intact' : 'Broken'}</h2>
          <dl className="detail">
            <dt>Records checked</dt>
            <dd>
              {result.checkedCount} of {result.totalCount}
            </dd>
            <dt>Head hash</dt>
            <dd className="mono">{result.headHash ?? '—'}</dd>
            {!result.intact && (
              <>
                <dt>Problem</dt>
                <dd>{result.problem}</dd>
                <dt>First bad record</dt>
                <dd>{result.firstInvalidSequence}</dd>
              </>
            )}
          </dl>
        </section>
      )}
    </>
  );
}
