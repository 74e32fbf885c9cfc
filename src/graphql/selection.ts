import type { FieldNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';
import { Kind } from 'graphql';

/** The field nodes a selection set holds (through fragments too). */
function fieldsOf(info: GraphQLResolveInfo, selectionSets: (SelectionSetNode | undefined)[]): FieldNode[] {
  const fields: FieldNode[] = [];
  const visit = (selectionSet: SelectionSetNode | undefined) => {
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else visit(info.fragments[selection.name.value]?.selectionSet);
    }
  };
  for (const selectionSet of selectionSets) visit(selectionSet);
  return fields;
}

/**
 * The names of the fields a client selected under the field being resolved
 * (through fragments too), so a resolver can load what the next level asks for
 * in the same statement instead of one more round trip per level.
 */
export function selectedFields(info: GraphQLResolveInfo): Set<string> {
  return new Set(fieldsOf(info, info.fieldNodes.map((node) => node.selectionSet)).map((field) => field.name.value));
}

/**
 * The names of the fields selected under a child field of the field being
 * resolved (under every alias of it), two levels down: what a resolver
 * that reads its children along must bring for them.
 * @returns undefined when the child is not selected
 */
export function selectedUnder(info: GraphQLResolveInfo, child: string): Set<string> | undefined {
  const children = fieldsOf(info, info.fieldNodes.map((node) => node.selectionSet)).filter((field) => field.name.value === child);
  if (children.length === 0) return undefined;
  return new Set(fieldsOf(info, children.map((field) => field.selectionSet)).map((field) => field.name.value));
}
