import { type FieldNode, GraphQLError, Kind, type ValidationRule } from 'graphql';

/**
 * Introspection switched off (production), short of one harmless probe.
 * Refuses `__schema` and every `__type` lookup that asks for more than the
 * type's `name` (fields, arguments, descriptions, enum values...), so the
 * schema stays unreadable. `__type(name: "X") { name }` answers only whether a
 * type is called X; it is what the GraphQL-over-HTTP audits send to check
 * UTF-8 bodies and variables, which Apollo's own `introspection: false` refuses.
 */
export const noIntrospection: ValidationRule = (context) => ({
  Field(node) {
    const name = node.name.value;
    if (name === '__schema' || (name === '__type' && !asksOnlyTheName(node))) {
      context.reportError(
        new GraphQLError('GraphQL introspection is not allowed: the query asked for __schema, or for more of a __type than its name.', {
          nodes: [node],
          extensions: { validationErrorCode: 'INTROSPECTION_DISABLED' },
        }),
      );
    }
  },
});

function asksOnlyTheName(node: FieldNode): boolean {
  const selections = node.selectionSet?.selections ?? [];
  return selections.every((selection) => selection.kind === Kind.FIELD && !selection.selectionSet && (selection.name.value === 'name' || selection.name.value === '__typename'));
}
