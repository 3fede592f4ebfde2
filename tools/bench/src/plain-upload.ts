// One resumable upload of a file to Cloud Storage, in a process of its own so that it gets its
// credentials as the CLI does (the metadata server the environment names). Prints the seconds it
// took. Args: ENDPOINT BUCKET FILE OBJECT [MODE].
// - MODE `library` (the default): @google-cloud/storage, a session then the file in 32 MiB
//   chunks (the emulator takes at most 256 MiB in one request): the plain pipeline's upload.
// - MODE `raw`: the session from the library, then the chunks as bare PUTs with Content-Range and
//   no client-side checksums: what the emulator's Cloud Storage itself accepts, to compare with
//   the CLI's rate (it must not be what the import bench measures).
import { createStorage } from "@imagesvc/preflight";
import { openSync, readSync, statSync } from "node:fs";
import { request } from "node:http";

const [endpoint = "", bucket = "", file = "", object = "", mode = "library"] =
  process.argv.slice(2);
const CHUNK = 32 * 1024 * 1024;
const storage = createStorage({ endpoint });
const [uri] = await storage.bucket(bucket).file(object).createResumableUpload();
const started = performance.now();
if (mode === "raw") {
  const size = statSync(file).size;
  const fd = openSync(file, "r");
  const buffer = Buffer.alloc(CHUNK);
  for (let at = 0; at < size;) {
    const n = readSync(fd, buffer, 0, CHUNK, at);
    // node:http, not fetch: fetch copies a body this large more than once on the way out.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(uri, {
        method: "PUT",
        headers: { "content-range": `bytes ${at}-${at + n - 1}/${size}`, "content-length": n },
      });
      req.once("response", (res) => {
        res.resume();
        res.once("end", () => {
          resolve(res.statusCode ?? 0);
        });
      });
      req.once("error", reject);
      req.end(buffer.subarray(0, n));
    });
    if (status !== 308 && status !== 200) throw new Error(`chunk at ${at}: HTTP ${status}`);
    at += n;
  }
} else {
  await storage.bucket(bucket).upload(file, {
    destination: object,
    uri,
    resumable: true,
    gzip: false,
    chunkSize: CHUNK,
  });
}
process.stdout.write(`${String((performance.now() - started) / 1000)}\n`);
