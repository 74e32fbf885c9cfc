// The part of the WebAssembly JS API the migration runner uses; @types/node 20
// does not declare it and the DOM library would bring browser globals along.
declare namespace WebAssembly {
  type Imports = Record<string, Record<string, unknown>>;
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  function instantiate(bytes: ArrayBufferView | ArrayBuffer, imports?: Imports): Promise<{ instance: Instance }>;
}
