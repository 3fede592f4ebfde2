import { createRegistry, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type reflectionV1, type reflectionV1alpha } from "@imagesvc/proto";

type Request = reflectionV1.ServerReflectionRequest | reflectionV1alpha.ServerReflectionRequest;

/**
 * gRPC server reflection (v1 and v1alpha, which are the same protocol under two package names),
 * so that `buf curl`, grpcurl and friends call the gateway with no local schema. Answers from the
 * descriptors protoc-gen-es compiled in: the files of the served services and everything they
 * import.
 */
export function createReflection(
  files: readonly DescFile[],
  services: readonly string[],
  /**
   * Takes a place for one stream (RESOURCE_EXHAUSTED when none is left) and returns its release.
   * A reflection stream is bidirectional and may stay open as long as its caller likes, so open
   * ones are capped for the whole gateway, as health's Watch streams are.
   */
  acquireStream: () => () => void,
) {
  const registry = createRegistry(...files);
  const encoded = new Map<DescFile, Uint8Array>();
  const bytes = (file: DescFile) => {
    let b = encoded.get(file);
    if (b === undefined) {
      b = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file, b);
    }
    return b;
  };
  /** A file and every file it imports, each once. */
  const closure = (file: DescFile): Uint8Array[] => {
    const seen = new Set<DescFile>();
    const visit = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return [...seen].map(bytes);
  };
  const byName = new Map<string, DescFile>();
  const index = (f: DescFile) => {
    if (byName.has(f.proto.name)) return;
    byName.set(f.proto.name, f);
    f.dependencies.forEach(index);
  };
  files.forEach(index);
  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    const desc = registry.get(symbol);
    if (desc !== undefined) return desc.file;
    // A method: "package.Service.Method".
    const service = registry.getService(symbol.slice(0, symbol.lastIndexOf(".")));
    return service?.file;
  };

  const answer = (req: Request) => {
    const notFound = (what: string) => ({
      case: "errorResponse" as const,
      value: { errorCode: 5, errorMessage: `${what} not found` },
    });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return {
          case: "listServicesResponse" as const,
          value: { service: services.map((name) => ({ name })) },
        };
      case "fileByFilename": {
        const file = byName.get(r.value);
        return file === undefined
          ? notFound(`file ${r.value}`)
          : {
              case: "fileDescriptorResponse" as const,
              value: { fileDescriptorProto: closure(file) },
            };
      }
      case "fileContainingSymbol": {
        const file = fileOfSymbol(r.value);
        return file === undefined
          ? notFound(`symbol ${r.value}`)
          : {
              case: "fileDescriptorResponse" as const,
              value: { fileDescriptorProto: closure(file) },
            };
      }
      default:
        return {
          case: "errorResponse" as const,
          value: { errorCode: 12, errorMessage: "extensions are not supported" },
        };
    }
  };

  async function* serverReflectionInfo(requests: AsyncIterable<Request>) {
    const release = acquireStream();
    try {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: answer(req) };
      }
    } finally {
      release();
    }
  }

  return {
    v1: { serverReflectionInfo } as unknown as ServiceImpl<typeof reflectionV1.ServerReflection>,
    v1alpha: { serverReflectionInfo } as unknown as ServiceImpl<
      typeof reflectionV1alpha.ServerReflection
    >,
  };
}
