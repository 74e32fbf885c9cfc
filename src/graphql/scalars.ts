import { DateResolver, DateTimeResolver, EmailAddressResolver, JSONResolver } from 'graphql-scalars';

/** Custom scalars of the contract, implemented by graphql-scalars. */
export const scalarResolvers = {
  Date: DateResolver,
  DateTime: DateTimeResolver,
  EmailAddress: EmailAddressResolver,
  JSON: JSONResolver,
};
