// One resumable upload of a file with @google-cloud/storage, in a process of its own so that it
// gets its credentials as the CLI does (the metadata server the environment names): a session,
// then the whole file in one request. Prints the seconds it took. Args: ENDPOINT BUCKET FILE OBJECT.
import { createStorage } from "@imagesvc/preflight";

const [endpoint = "", bucket = "", file = "", object = ""] = process.argv.slice(2);
const storage = createStorage({ endpoint });
const started = performance.now();
const [uri] = await storage.bucket(bucket).file(object).createResumableUpload();
// In 32 MiB chunks: the emulator takes at most 256 MiB in one request.
await storage.bucket(bucket).upload(file, {
  destination: object,
  uri,
  resumable: true,
  gzip: false,
  chunkSize: 32 * 1024 * 1024,
});
process.stdout.write(`${String((performance.now() - started) / 1000)}\n`);
