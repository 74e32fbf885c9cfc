import { ApiError } from '../api/client.ts';

/** Errors of a failed operation that name no field: each with its extensions.code. */
export function ErrorNotice({ error, fields = [] }: { error: unknown; fields?: string[] }) {
  if (!error) return null;
  const items =
    error instanceof ApiError
      ? error.errors.filter((item) => !fields.includes(item.extensions?.field ?? '') && !fields.includes(item.extensions?.argument ?? ''))
      : [{ message: error instanceof Error ? error.message : String(error), extensions: { code: 'NETWORK' } }];
  if (items.length === 0) return null;
  return (
    <div className="error" role="alert">
      {items.map((item, index) => (
        <p key={index}>
          <code>{item.extensions?.code ?? 'ERROR'}</code> {item.message}
        </p>
      ))}
    </div>
  );
}

/** The errors naming one input (extensions.field or .argument), shown beside it; `id` is for aria-describedby. */
export function FieldError({ error, name, id }: { error: unknown; name: string; id: string }) {
  const items = error instanceof ApiError ? error.forField(name) : [];
  if (items.length === 0) return null;
  return (
    <span className="field-error" id={id} role="alert">
      {items.map((item) => `${item.extensions?.code}: ${item.message}`).join(' ')}
    </span>
  );
}
