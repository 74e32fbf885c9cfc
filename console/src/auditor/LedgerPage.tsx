import { useQuery } from '@tanstack/react-query';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { AuditCheckpointDocument, VerifyAuditChainDocument } from '../generated/graphql.ts';

/** The audit ledger's state: every entry checked against its leaf in the Merkle tree, and the newest signed checkpoint to keep. */
export function LedgerPage() {
  const chain = useQuery({ queryKey: ['VerifyAuditChain'], queryFn: () => request(VerifyAuditChainDocument), enabled: false });
  const result = chain.data?.verifyAuditChain;
  const latest = useQuery({ queryKey: ['AuditCheckpoint'], queryFn: () => request(AuditCheckpointDocument) });
  return (
    <>
      <h1>Audit ledger</h1>
      <p className="hint">Checks every entry against its leaf in the signed Merkle tree and reports the first inconsistency. Keep the checkpoint below outside the database: npm run audit:verify -- --checkpoint FILE later proves nothing before it was altered, removed or reordered.</p>
      <section className="panel" aria-labelledby="checkpoint-heading">
        <h2 id="checkpoint-heading">Newest signed checkpoint</h2>
        <ErrorNotice error={latest.error} />
        {latest.data && <pre className="mono">{latest.data.auditCheckpoint ?? 'None yet: the log is empty.'}</pre>}
      </section>
      <div className="actions">
        <button type="button" onClick={() => void chain.refetch()} disabled={chain.isFetching}>
          {chain.isFetching ? 'Verifying…' : 'Verify the ledger'}
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
            <dt>Tree size</dt>
            <dd>{result.treeSize}</dd>
            <dt>Latest signed checkpoint</dt>
            <dd>
              <pre className="mono">{result.checkpoint ?? '—'}</pre>
            </dd>
            {!result.intact && (
              <>
                <dt>Problem</dt>
                <dd>{result.message ?? result.problem}</dd>
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
