import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { formatTime } from '../components/format.ts';
import { RegistryDocument } from '../generated/graphql.ts';
import { evaluationOf, figureWithInterval } from './metrics.ts';

/** Every model and its versions: stage, headline test figures with 95% intervals, who trained and promoted them. */
export function RegistryPage() {
  const registry = useQuery({ queryKey: ['Registry'], queryFn: () => request(RegistryDocument) });
  return (
    <>
      <h1>Model registry</h1>
      <ErrorNotice error={registry.error} />
      {registry.data?.models?.map((model) => (
        <section className="panel" key={model.id} aria-labelledby={`model-${model.id}`}>
          <h2 id={`model-${model.id}`}>{model.name}</h2>
          <p>
            {model.task.toLowerCase()} · predicts <code>{model.target}</code> · {model.description} · <Link href={`/performance/${model.name}`} aria-label={`${model.name}: performance and drift`}>
              performance and drift
            </Link>
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Stage</th>
                <th scope="col">Test figures (95% interval)</th>
                <th scope="col">Trained</th>
                <th scope="col">Promoted</th>
              </tr>
            </thead>
            <tbody>
              {model.versions.map((version) => {
                const evaluation = evaluationOf(version.metrics);
                return (
                  <tr key={version.id}>
                    <td>
                      <Link href={`/versions/${version.id}`} aria-label={`${model.name} version ${version.version}`}>
                        v{version.version}
                      </Link>
                    </td>
                    <td>
                      <span className={`badge ${version.stage}`}>{version.stage.toLowerCase()}</span>
                    </td>
                    <td>
                      {(evaluation.headline ?? []).map((name) => (
                        <div key={name}>
                          {name}: {figureWithInterval(evaluation, name)}
                        </div>
                      ))}
                    </td>
                    <td>
                      {formatTime(version.trainedAt)} by {version.trainedBy}
                    </td>
                    <td>{version.promotedAt ? `${formatTime(version.promotedAt)} by ${version.promotedBy}: “${version.promotionComment ?? ''}”` : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}
