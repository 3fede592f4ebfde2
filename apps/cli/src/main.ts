// `images`: a command-line client for the image service.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { validateCreateImageRequest, type FieldViolation } from "@imagesvc/validation";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { createRequestFromFlags, flagOf, UsageError, type CreateFlags } from "./create-request";
import { EXIT, exitCodeOf } from "./exit-codes";
import { errorLines, listHeader, listRow, ndjson, statusLine } from "./output";
import { createProgress } from "./progress";
import { ImportError } from "./import/disk-archive";
import { importDisk, StorageError, type ImportFlags } from "./import/import-command";
import { addReleaseCommands } from "./release-commands";
import { watchToDone } from "./watch";

interface GlobalFlags {
  readonly gateway: string;
  readonly token?: string;
  readonly json?: boolean;
}

const program = new Command("images")
  .description(
    "Create Compute Engine images through the image service, and follow their operations.",
  )
  .addOption(
    new Option("--gateway <url>", "the gateway's URL")
      .env("IMAGES_GATEWAY")
      .default("http://127.0.0.1:8080"),
  )
  .addOption(
    new Option("--token <token>", "bearer token or Google ID token for the gateway").env(
      "IMAGES_TOKEN",
    ),
  )
  .option("--json", "print Operation messages as NDJSON")
  .showHelpAfterError("(images COMMAND --help lists every option)")
  .exitOverride()
  // --project is checked here, after commander has reported any unknown option: a misspelt
  // `--projet` is reported as itself, with the suggestion, not as a missing --project.
  .hook("preAction", (_program, action) => {
    const wantsProject = action.options.some((o) => o.long === "--project");
    if (wantsProject && action.opts<{ project?: string }>().project === undefined)
      throw new UsageError("--project is required: name the Cloud project (or set IMAGES_PROJECT)");
  });

function client(): Client<typeof ImageService> {
  const { gateway } = program.opts<GlobalFlags>();
  let baseUrl: string;
  try {
    baseUrl = new URL(gateway).toString().replace(/\/$/, "");
  } catch {
    throw new UsageError(`--gateway: "${gateway}" is not a URL, e.g. http://127.0.0.1:8080`);
  }
  const { token } = program.opts<GlobalFlags>();
  return createClient(
    ImageService,
    createConnectTransport({
      baseUrl,
      httpVersion: "2",
      interceptors:
        token === undefined
          ? []
          : [
              (next) => (req) => {
                req.header.set("authorization", `Bearer ${token}`);
                return next(req);
              },
            ],
    }),
  );
}

const json = () => program.opts<GlobalFlags>().json === true;

/**
 * Follows an operation to DONE with live progress; the exit code says how it ended. Starts with
 * the stream itself (it sends the current state first), so a gateway that is down or restarting
 * is retried like any lost stream.
 */
async function follow(project: string, operation: string, from?: Operation): Promise<number> {
  const mode = json() ? "json" : process.stdout.isTTY ? "tty" : "lines";
  const progress = createProgress(mode);
  // Ctrl-C stops following, never the operation: say so, and how to follow it again.
  const onSigint = () => {
    progress.stop();
    process.stderr.write(
      `\nStopped following. Operation ${operation} goes on; follow it again with:\n  images watch ${operation} --project ${project}\n`,
    );
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  // Said only once Ctrl-C is handled: a caller who sees the name may press it at once.
  if (from !== undefined && !json())
    process.stderr.write(
      `Operation ${operation} accepted; following it (Ctrl-C stops following, not the operation).\n`,
    );
  let done: Operation;
  try {
    done = await watchToDone(client(), project, operation, {
      ...(from !== undefined && { from }),
      onUpdate: (o) => {
        progress.update(o);
      },
      onReconnect: (attempt) => {
        progress.note(`stream lost; reconnecting (${attempt})`);
      },
    });
  } finally {
    process.off("SIGINT", onSigint);
    progress.stop();
  }
  return finish(done);
}

function finish(op: Operation): number {
  if (op.status === Operation_Status.DONE && op.error === undefined && !json())
    process.stderr.write(
      op.operationType === "insert"
        ? `Created [${op.targetLink}].\n`
        : `Done: ${op.statusMessage}\n`,
    );
  if (op.error !== undefined) process.stderr.write(errorLines(op));
  return outcomeCode(op, "succeed");
}

/**
 * The one rule for every command that reports an operation (create, import, watch, get, cancel):
 * 0 while it is where the command wants it (not DONE yet, or DONE as wanted: without an error,
 * or CANCELLED for cancel), 1 once it is DONE otherwise.
 */
function outcomeCode(op: Operation, wanted: "succeed" | "be cancelled"): number {
  if (op.status !== Operation_Status.DONE) return EXIT.ok;
  const code = op.error?.errors[0]?.code;
  const asWanted = wanted === "succeed" ? op.error === undefined : code === "CANCELLED";
  return asWanted ? EXIT.ok : EXIT.operationFailed;
}

/** Field violations, each with the flag it came from, under `heading`. */
function printViolations(
  violations: readonly Pick<FieldViolation, "field" | "description">[],
  heading = "the request is invalid; nothing was sent",
): void {
  process.stderr.write(`ERROR: ${heading}:\n`);
  for (const v of violations) {
    const flag = flagOf(v.field);
    process.stderr.write(
      ` - ${v.field}${flag === undefined ? "" : ` (${flag})`}: ${v.description}\n`,
    );
  }
}

/** The field violations a refusal of the service carries (google.rpc.BadRequest), if any. */
function refusedFields(e: unknown): { field: string; description: string }[] {
  if (!(e instanceof ConnectError) || e.code !== Code.InvalidArgument) return [];
  return e.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
}

/** Commander's accumulator for a repeated flag. */
const collect = (value: string, previous: readonly string[]): string[] => [...previous, value];

/** Required, and checked in the preAction hook (see `program`). */
const projectOption = () =>
  new Option("--project <project>", "the Cloud project (required)").env("IMAGES_PROJECT");

/** A command that acts on one operation of a project: `watch`, `get`, `cancel`. */
const operationCommand = (name: string, description: string, what = "the operation name") =>
  program
    .command(name)
    .description(description)
    .argument("<operation>", what)
    .addOption(projectOption());

/** The image's own flags, shared by `create` and `import`, and the webhook's. */
function withImageFlags(command: Command): Command {
  return command
    .option("--notify <url>", "a webhook the service calls, signed, as the operation moves")
    .option(
      "--notify-on <statuses>",
      "which statuses --notify announces: RUNNING, DONE (the default) or RUNNING,DONE",
    )
    .option("--family <family>", "image family to add the image to")
    .option(
      "--release <mode>",
      "promote: create it DEPRECATED and promote it once READY; hold: create it DEPRECATED until `images promote`",
    )
    .option(
      "--release-check <url>",
      "with --release promote: the promotion waits for a 2xx from this URL (signed like webhooks)",
    )
    .option("--description <text>", "description")
    .option("--labels <k=v,...>", "labels, e.g. env=prod,team=edge")
    .option("--guest-os-features <features>", "comma-separated, e.g. UEFI_COMPATIBLE,GVNIC")
    .option("--storage-location <location>", "a multi-region (us, eu, asia) or region")
    .option("--architecture <arch>", "ARM64 or X86_64")
    .option("--licenses <licenses>", "comma-separated license URLs or paths")
    .option(
      "--request-id <uuid>",
      "makes retries of this command safe: the same id never creates two images",
    )
    .option("--async", "print the operation and return without waiting");
}

const createCommand = program
  .command("create")
  .description(
    "Create an image, then follow its operation to DONE (flags as in `gcloud compute images create`)",
  )
  .argument(
    "[image-name]",
    "name of the image: 1-63 lowercase letters, digits or hyphens (or the name in --body)",
  )
  .addOption(projectOption())
  .option(
    "--body <file.json>",
    "a whole images.insert body, as Compute's docs show it; other flags set fields on top",
  )
  .option(
    "--source-uri <url>",
    "Cloud Storage URL of a .tar.gz disk archive (https://storage.googleapis.com/BUCKET/OBJECT)",
  )
  .option("--source-disk <disk>", "a disk name, zones/ZONE/disks/DISK or its URL")
  .option("--source-disk-zone <zone>", "zone of --source-disk")
  .option("--source-image <image>", "an image name, path or URL")
  .option("--source-image-family <family>", "the latest image of this family")
  .option("--source-image-project <project>", "project of --source-image or --source-image-family")
  .option("--source-snapshot <snapshot>", "a snapshot name, path or URL")
  .option("--force", "create even if the source disk is attached to a running instance")
  .option(
    "--source-disk-key-file <file>",
    "the key --source-disk is encrypted with (base64, raw or RSA-wrapped)",
  )
  .option("--source-image-key-file <file>", "the key --source-image is encrypted with")
  .option("--source-snapshot-key-file <file>", "the key --source-snapshot is encrypted with")
  .option(
    "--shielded-pk <file>",
    "Secure Boot platform key: a DER or PEM certificate, or an EFI signature list",
  )
  .option("--shielded-kek <file>", "a Secure Boot key exchange key (repeat for more)", collect, [])
  .option(
    "--shielded-db <file>",
    "an allowed signature database entry (repeat for more)",
    collect,
    [],
  )
  .option(
    "--shielded-dbx <file>",
    "a forbidden signature database entry (repeat for more)",
    collect,
    [],
  )
  .option("--deprecated-state <state>", "ACTIVE, DEPRECATED, OBSOLETE or DELETED at creation")
  .option("--deprecated-replacement <image>", "the image that replaces this one")
  .option("--deprecate-at <rfc3339>", "when the image is meant to become DEPRECATED")
  .option("--obsolete-at <rfc3339>", "when the image is meant to become OBSOLETE")
  .option("--delete-at <rfc3339>", "when the image is meant to become DELETED")
  .option(
    "--tag <key=value>",
    "a Resource Manager tag bound at creation (repeat for more)",
    collect,
    [],
  );
withImageFlags(createCommand).action(
  async (name: string | undefined, flags: CreateFlags & { async?: boolean }) => {
    const request = createRequestFromFlags(name, flags);
    const violations = validateCreateImageRequest(request);
    if (violations.length > 0) {
      printViolations(violations);
      process.exitCode = EXIT.usage;
      return;
    }
    const op = await client().createImage(request);
    if (flags.async === true) {
      process.stdout.write(json() ? ndjson(op) : `${op.name}\n`);
      return;
    }
    process.exitCode = await follow(op.project, op.name, op);
  },
);

withImageFlags(
  program
    .command("import")
    .description(
      "Import a disk file (vmdk, vhd, vhdx, qcow2, raw, or a ready .tar.gz): convert it with qemu-img, archive it with GNU tar as Compute wants, upload it resumably, create the image and follow it to DONE. Run the same command again to resume an interrupted upload.",
    )
    .argument("<file>", "the disk file")
    .addOption(projectOption())
    .addOption(
      new Option("--bucket <bucket>", "Cloud Storage bucket to upload the archive to")
        .makeOptionMandatory()
        .env("IMAGES_BUCKET")
        .argParser((value: string) => {
          if (!value.startsWith("gs://")) return value;
          const bucket = value.slice("gs://".length).replace(/\/.*$/, "");
          throw new InvalidArgumentError(
            `give the bucket's name alone, without gs:// (--bucket ${bucket}); the object is --object`,
          );
        }),
    )
    .option("--name <image-name>", "name of the image (default: from the file name)")
    .option("--object <name>", "object name in the bucket (default: IMAGE_NAME.tar.gz)")
    .option(
      "--all-disks",
      "for an OVA: import every disk it holds, as IMAGE-1, IMAGE-2, … (default: the boot disk)",
    )
    .addOption(
      new Option(
        "--storage-endpoint <url>",
        "Cloud Storage JSON API endpoint, for an emulator (default: Google's)",
      ).env("IMAGES_STORAGE_ENDPOINT"),
    )
    .addOption(
      new Option("--chunk-size <bytes>", "upload chunk size, a multiple of 262144 (default 16 MiB)")
        .argParser((v) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n <= 0 || n % 262_144 !== 0)
            throw new UsageError(`--chunk-size: "${v}" is not a positive multiple of 262144`);
          return n;
        })
        .hideHelp(),
    ),
).action(async (file: string, flags: ImportFlags) => {
  process.exitCode = await importDisk(file, flags, { client, follow, json, printViolations });
});

operationCommand(
  "watch",
  "Follow an operation to DONE",
  "the operation name create printed",
).action(async (operation: string, flags: { project: string }) => {
  process.exitCode = await follow(flags.project, operation);
});

operationCommand("get", "Print an operation's current state").action(
  async (operation: string, flags: { project: string }) => {
    const op = await client().getOperation({ project: flags.project, operation });
    process.stdout.write(json() ? ndjson(op) : statusLine(op));
    if (op.error !== undefined && !json()) process.stderr.write(errorLines(op));
    process.exitCode = outcomeCode(op, "succeed");
  },
);

program
  .command("list")
  .description("List a project's operations, newest first")
  .addOption(projectOption())
  .addOption(
    new Option("--status <status>", "only operations in this status").choices([
      "PENDING",
      "RUNNING",
      "DONE",
    ]),
  )
  .option(
    "--limit <n>",
    "at most this many",
    (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new UsageError(`--limit: "${v}" is not a whole number >= 1`);
      return n;
    },
    100,
  )
  .action(
    async (flags: { project: string; status?: "PENDING" | "RUNNING" | "DONE"; limit: number }) => {
      const c = client();
      let pageToken = "";
      let shown = 0;
      do {
        const page = await c.listOperations({
          project: flags.project,
          ...(flags.status && { status: Operation_Status[flags.status] }),
          maxResults: Math.min(500, flags.limit - shown),
          pageToken,
        });
        if (shown === 0 && !json() && page.items[0] !== undefined)
          process.stdout.write(listHeader(page.items[0].name.length));
        for (const op of page.items) process.stdout.write(json() ? ndjson(op) : listRow(op));
        shown += page.items.length;
        pageToken = page.nextPageToken;
      } while (pageToken !== "" && shown < flags.limit);
    },
  );

operationCommand(
  "cancel",
  "Cancel an operation that has not reached Compute (an insert not sent, a release not started)",
).action(async (operation: string, flags: { project: string }) => {
  const op = await client().cancelOperation({ project: flags.project, operation });
  process.stdout.write(json() ? ndjson(op) : statusLine(op));
  process.exitCode = outcomeCode(op, "be cancelled");
});

addReleaseCommands(program, { client, follow, json, projectOption });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version end here with code 0; usage errors have been printed by commander.
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (e instanceof UsageError || e instanceof ImportError) {
    process.stderr.write(`ERROR: ${e.message}\n`);
    process.exitCode = EXIT.usage;
  } else if (e instanceof StorageError) {
    process.stderr.write(`ERROR: ${e.message}\n`);
    process.exitCode = EXIT.unreachable;
  } else if (refusedFields(e).length > 0) {
    // The service's own validation (a webhook host it does not allow, say), as the CLI's own.
    printViolations(refusedFields(e), "the service refused the request; nothing was created");
    process.exitCode = exitCodeOf(e);
  } else {
    const code = exitCodeOf(e);
    const message = e instanceof Error ? e.message : String(e);
    const hint =
      code === EXIT.unreachable
        ? ` (is the gateway at ${program.opts<GlobalFlags>().gateway} running? set --gateway or IMAGES_GATEWAY)`
        : "";
    process.stderr.write(`ERROR: ${message}${hint}\n`);
    process.exitCode = code;
  }
}
