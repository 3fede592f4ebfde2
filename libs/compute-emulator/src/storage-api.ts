import type { IncomingMessage, ServerResponse } from "node:http";
import { ComputeFault } from "./compute-error";
import { readBytes, sendJson } from "./http-io";
import type { ObjectStorage } from "./storage";

/** The largest upload body (one request, or one chunk of a resumable upload) the emulator takes. */
const MAX_UPLOAD_BYTES = 256 * 1024 * 1024;

const OBJECTS = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/;
const UPLOADS = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/;
/** A bucket's metadata, or its testIamPermissions: every bucket exists and the caller may write. */
const BUCKETS = /^\/storage\/v1\/b\/([^/]+)(\/iam\/testPermissions)?$/;

/** Whether a path is the Cloud Storage JSON API's. */
export const isStoragePath = (path: string) =>
  OBJECTS.test(path) || UPLOADS.test(path) || BUCKETS.test(path);

/**
 * Cloud Storage's JSON API over the emulator's ObjectStorage, after the caller authenticated:
 * `GET …/b/BUCKET` and `GET …/b/BUCKET/iam/testPermissions` (every bucket exists, writable),
 * `GET …/o/NAME` (metadata, or the bytes with `alt=media`, honouring `Range`), `GET …/o` (list,
 * `prefix`), `DELETE …/o/NAME`, and `POST /upload/…/o` with `uploadType` media, multipart or
 * resumable, whose chunks come as `PUT …?upload_id=ID` with `Content-Range`.
 */
export async function handleStorage(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  storage: ObjectStorage,
  baseUrl: string,
): Promise<void> {
  const method = req.method ?? "GET";
  const bucketPath = BUCKETS.exec(url.pathname);
  if (bucketPath !== null) {
    const bucket = decodeURIComponent(bucketPath[1] ?? "");
    if (bucketPath[2] !== undefined)
      sendJson(res, 200, {
        kind: "storage#testIamPermissionsResponse",
        permissions: url.searchParams.getAll("permissions"),
      });
    else sendJson(res, 200, { kind: "storage#bucket", id: bucket, name: bucket });
    return;
  }
  const upload = UPLOADS.exec(url.pathname);
  if (upload !== null) {
    await handleUpload(req, res, url, storage, decodeURIComponent(upload[1] ?? ""), baseUrl);
    return;
  }
  const match = OBJECTS.exec(url.pathname);
  const bucket = decodeURIComponent(match?.[1] ?? "");
  const name = match?.[2] === undefined ? undefined : decodeURIComponent(match[2]);
  if (name === undefined) {
    if (method !== "GET") throw new ComputeFault(405, "methodNotAllowed", `${method} not allowed`);
    sendJson(res, 200, {
      kind: "storage#objects",
      items: storage.list(bucket, url.searchParams.get("prefix") ?? ""),
    });
    return;
  }
  if (method === "DELETE") {
    storage.delete(bucket, name);
    res.writeHead(204).end();
    return;
  }
  if (method !== "GET") throw new ComputeFault(405, "methodNotAllowed", `${method} not allowed`);
  const meta = storage.metadata(bucket, name);
  if (url.searchParams.get("alt") !== "media") {
    sendJson(res, 200, meta);
    return;
  }
  const size = Number(meta.size);
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  let start = 0;
  let end = size - 1;
  if (range !== null) {
    if (range[1] === "") start = Math.max(0, size - Number(range[2]));
    else {
      start = Number(range[1]);
      if (range[2] !== "") end = Math.min(end, Number(range[2]));
    }
    if (start >= size && size > 0) {
      res.writeHead(416, { "content-range": `bytes */${size}` }).end();
      return;
    }
  }
  const body = storage.read(bucket, name, start, end);
  res.writeHead(range === null ? 200 : 206, {
    "content-type": meta.contentType,
    "content-length": body.length,
    "x-goog-generation": meta.generation,
    "x-goog-stored-content-length": meta.size,
    ...(meta.contentEncoding !== undefined && {
      "x-goog-stored-content-encoding": meta.contentEncoding,
    }),
    ...(range !== null && { "content-range": `bytes ${start}-${start + body.length - 1}/${size}` }),
  });
  res.end(body);
}

async function handleUpload(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  storage: ObjectStorage,
  bucket: string,
  baseUrl: string,
): Promise<void> {
  const uploadId = url.searchParams.get("upload_id");
  if (uploadId !== null) {
    // A chunk (`bytes A-B/TOTAL`), or a status query (`bytes */TOTAL`, `bytes */*`).
    const range = /^bytes (\*|(\d+)-(\d+))\/(\*|\d+)$/.exec(req.headers["content-range"] ?? "");
    const total = range?.[4] === undefined || range[4] === "*" ? undefined : Number(range[4]);
    const chunk = range !== null && range[1] !== "*";
    const held = chunk ? 0 : await storage.settledStatus(uploadId);
    const result = chunk
      ? await storage.appendUpload(uploadId, Number(range[2]), req, total, MAX_UPLOAD_BYTES)
      : total !== undefined && held >= total
        ? await storage.appendUpload(uploadId, held, [], total, 0)
        : { received: held };
    if (!chunk) await readBytes(req, MAX_UPLOAD_BYTES); // a status query's body, if any
    if ("done" in result) {
      sendJson(res, 200, result.done);
      return;
    }
    res.writeHead(308, {
      "content-length": 0,
      ...(result.received > 0 && { range: `bytes=0-${result.received - 1}` }),
    });
    res.end();
    return;
  }
  const type = url.searchParams.get("uploadType") ?? "media";
  const body = await readBytes(req, MAX_UPLOAD_BYTES);
  const contentType = req.headers["content-type"] ?? "application/octet-stream";
  if (type === "resumable") {
    const meta = (body.length > 0 ? JSON.parse(body.toString("utf8")) : {}) as {
      name?: string;
      contentType?: string;
      contentEncoding?: string;
    };
    const name = url.searchParams.get("name") ?? meta.name ?? "";
    const id = storage.startUpload(
      bucket,
      name,
      String(
        req.headers["x-upload-content-type"] ?? meta.contentType ?? "application/octet-stream",
      ),
      meta.contentEncoding,
    );
    res.writeHead(200, {
      location: `${baseUrl}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}`,
      "content-length": 0,
    });
    res.end();
    return;
  }
  if (type === "multipart") {
    const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
    if (boundary === undefined)
      throw new ComputeFault(400, "invalid", "multipart upload without a boundary");
    const parts = splitMultipart(body, boundary);
    const meta = JSON.parse(parts[0]?.body.toString("utf8") ?? "{}") as {
      name?: string;
      contentType?: string;
      contentEncoding?: string;
    };
    const data = parts[1];
    sendJson(
      res,
      200,
      storage.put(
        bucket,
        url.searchParams.get("name") ?? meta.name ?? "",
        data?.body ?? Buffer.alloc(0),
        meta.contentType ?? data?.contentType ?? "application/octet-stream",
        meta.contentEncoding,
      ),
    );
    return;
  }
  sendJson(
    res,
    200,
    storage.put(
      bucket,
      url.searchParams.get("name") ?? "",
      body,
      contentType,
      url.searchParams.get("contentEncoding") ?? undefined,
    ),
  );
}

/** The parts of a multipart/related body: each part's bytes and its content type. */
function splitMultipart(body: Buffer, boundary: string): { body: Buffer; contentType: string }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { body: Buffer; contentType: string }[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next === -1) break;
    const part = body.subarray(at + delimiter.length, next);
    const headerEnd = part.indexOf("\r\n\r\n");
    if (headerEnd !== -1) {
      const headers = part.subarray(0, headerEnd).toString("latin1");
      let content = part.subarray(headerEnd + 4);
      if (content.subarray(-2).toString("latin1") === "\r\n") content = content.subarray(0, -2);
      parts.push({
        body: content,
        contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] ?? "application/octet-stream",
      });
    }
    at = next;
  }
  return parts;
}
