import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { formatTime } from '../components/format.ts';
import { Pager, useCursorPages } from '../components/Pager.tsx';
import { AuditEventsDocument, BreakGlassGrantsDocument, type BreakGlassGrantsQuery } from '../generated/graphql.ts';
import { AuditEventsTable } from './AuditEventsTable.tsx';

type Grant = NonNullable<BreakGlassGrantsQuery['breakGlassGrants']>['edges'][number]['node'];

/** The break-glass review queue: every grant with its reason, and the accesses each one allowed. */
export function BreakGlassPage() {
  const pages = useCursorPages();
  const [open, setOpen] = useState<Grant>();
  const variables = { first: 20, ...(pages.after ? { after: pages.after } : {}) };
  const grants = useQuery({ queryKey: ['BreakGlassGrants', variables], queryFn: () => request(BreakGlassGrantsDocument, variables), placeholderData: keepPreviousData });
  const listed = grants.data?.breakGlassGrants;
  return (
    <>
      <h1>Break-glass review</h1>
      <ErrorNotice error={grants.error} />
      {listed && (
        <>
          <table>
            <caption>Emergency access grants, newest first ({listed.totalCount} in all)</caption>
            <thead>
              <tr>
                <th scope="col">Clinician</th>
                <th scope="col">Patient</th>
                <th scope="col">Reason</th>
                <th scope="col">Granted</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="hint">Accesses</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {listed.edges.map(({ node }) => (
                <tr key={node.id} className={node.id === open?.id ? 'selected' : ''}>
                  <td>{node.clinicianSubject}</td>
                  <td className="mono">{node.patientId}</td>
                  <td>{node.reason}</td>
                  <td>{formatTime(node.grantedAt)}</td>
                  <td>
                    {formatTime(node.expiresAt)} {node.active && <span className="badge break-glass">active</span>}
                  </td>
                  <td>
                    <button type="button" className="secondary" onClick={() => setOpen(node)} aria-label={`Show accesses under the grant to ${node.clinicianSubject} at ${formatTime(node.grantedAt)}`}>
                      Show accesses
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} hasNextPage={listed.pageInfo.hasNextPage} endCursor={listed.pageInfo.endCursor} />
        </>
      )}
      {open && <GrantAccesses grant={open} />}
    </>
  );
}

/** The audit records flagged break-glass for this clinician and patient during the grant. */
function GrantAccesses({ grant }: { grant: Grant }) {
  const filter = { actorSubject: grant.clinicianSubject, patientId: grant.patientId, breakGlass: true, from: grant.grantedAt, to: grant.expiresAt };
  const events = useQuery({ queryKey: ['AuditEvents', filter], queryFn: () => request(AuditEventsDocument, { filter, first: 100 }) });
  return (
    <section className="panel" aria-labelledby="accesses-heading">
      <h2 id="accesses-heading">Accesses under this grant</h2>
      <p>
        {grant.clinicianSubject}: “{grant.reason}”
      </p>
      <ErrorNotice error={events.error} />
      {events.data?.auditEvents && <AuditEventsTable caption="Break-glass accesses (up to 100, newest first)" events={events.data.auditEvents.edges.map((edge) => edge.node)} />}
    </section>
  );
}
