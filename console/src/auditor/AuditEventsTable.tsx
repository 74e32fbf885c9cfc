import { useQuery } from '@tanstack/react-query';
import { Fragment, useEffect, useRef } from 'react';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { formatTime } from '../components/format.ts';
import { AuditInclusionProofDocument, type AuditEventsQuery } from '../generated/graphql.ts';

export type AuditEventRow = NonNullable<AuditEventsQuery['auditEvents']>['edges'][number]['node'];

/** Audit records as rows; choosing one shows its full detail (onSelect). */
export function AuditEventsTable({ caption, events, selected, onSelect }: { caption: string; events: AuditEventRow[]; selected?: string; onSelect?: (event: AuditEventRow) => void }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col" className="number">
            #
          </th>
          <th scope="col">When</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Outcome</th>
          <th scope="col">Patients</th>
          <th scope="col">Purpose</th>
          {onSelect && (
            <th scope="col">
              <span className="hint">Detail</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {events.map((event) => (
          <tr key={event.id} className={event.id === selected ? 'selected' : ''}>
            <td className="number">{event.sequence}</td>
            <td>{formatTime(event.recordedAt)}</td>
            <td>
              {event.actorSubject} <span className="hint">({event.actorRoles.join(', ') || 'no role'})</span>
            </td>
            <td>
              {/* A request that read several kinds of data is one record naming each. */}
              {event.entities.map((entity, index) => (
                <span key={`${entity.action}|${entity.resourceType}`}>
                  {index > 0 && ' '}
                  <code>{entity.action}</code>
                </span>
              ))}
            </td>
            <td>
              <span className={`badge ${event.outcome}`}>{event.outcome}</span>
              {event.reason && <span className="hint"> {event.reason}</span>}
            </td>
            <td className="mono">{event.patientIds.map((id) => id.slice(0, 8)).join(', ')}</td>
            <td>
              {event.purposeOfUse}
              {event.breakGlass && (
                <>
                  {' '}
                  <span className="badge break-glass">break-glass</span>
                </>
              )}
            </td>
            {onSelect && (
              <td>
                <button type="button" className="secondary" onClick={() => onSelect(event)} aria-label={`Details of record ${event.sequence}`}>
                  Details
                </button>
              </td>
            )}
          </tr>
        ))}
        {events.length === 0 && (
          <tr>
            <td colSpan={8}>No records match.</td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

/** Every field of one audit record. */
export function AuditEventDetail({ event }: { event: AuditEventRow }) {
  const rows: [string, string][] = [
    ['Sequence', event.sequence],
    ['Recorded', formatTime(event.recordedAt)],
    ['Actor', `${event.actorSubject} (${event.actorRoles.join(', ') || 'no role'})`],
    ['Action', event.action],
    ['Outcome', event.outcome],
    ['Reason', event.reason ?? '—'],
    ['Purpose of use', event.purposeOfUse],
    ['Break-glass', event.breakGlass ? 'yes' : 'no'],
    ...event.entities.map((entity): [string, string] => [`Resource (${entity.action})`, `${entity.resourceType ?? '—'} ${entity.resourceIds.join(', ')}`]),
    ['Patients', event.patientIds.join(', ') || '—'],
    ['Request id', event.requestId ?? '—'],
    ['Operation', event.operationName ?? '—'],
    ['Query hash', event.queryHash ?? '—'],
    ['Client address', event.clientAddress ?? '—'],
    ['User agent', event.userAgent ?? '—'],
    ['Leaf hash', event.leafHash ?? '—'],
  ];
  // Keyboard and screen-reader users land on the detail they asked for.
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [event.id]);
  return (
    <section className="panel" aria-labelledby="detail-heading">
      <h2 id="detail-heading" ref={heading} tabIndex={-1}>
        Record {event.sequence}
      </h2>
      <dl className="detail">
        {rows.map(([name, value]) => (
          <Fragment key={name}>
            <dt>{name}</dt>
            <dd className={name.includes('ash') || name.includes('id') ? 'mono' : ''}>{value}</dd>
          </Fragment>
        ))}
      </dl>
      <InclusionProof eventId={event.id} />
    </section>
  );
}

/**
 * The record's RFC 9162 inclusion proof against the newest signed checkpoint,
 * on request: the server builds it; `npm run audit:proof` checks it with the public key.
 */
function InclusionProof({ eventId }: { eventId: string }) {
  const proof = useQuery({ queryKey: ['AuditInclusionProof', eventId], queryFn: () => request(AuditInclusionProofDocument, { eventId }), enabled: false });
  const result = proof.data?.auditInclusionProof;
  return (
    <>
      <div className="actions">
        <button type="button" className="secondary" onClick={() => void proof.refetch()} disabled={proof.isFetching}>
          Prove inclusion in the signed log
        </button>
      </div>
      <ErrorNotice error={proof.error} />
      {result && (
        <dl className="detail" aria-label="Inclusion proof">
          <dt>Leaf index</dt>
          <dd>
            {result.leafIndex} of a tree of {result.treeSize}
          </dd>
          <dt>Leaf hash</dt>
          <dd className="mono">{result.leafHash}</dd>
          <dt>Audit path</dt>
          <dd className="mono">{result.hashes.join(' ') || '— (the tree holds this entry alone)'}</dd>
          <dt>Signed checkpoint</dt>
          <dd>
            <pre className="mono">{result.checkpoint}</pre>
          </dd>
        </dl>
      )}
    </>
  );
}
