/** A Compute call, recognised from its method and path. */
export interface ComputeRoute {
  /** The discovery method id without `compute.`, e.g. `images.insert`; fault rules match on it. */
  readonly method: string;
  readonly project: string;
  /** The image or operation name, for methods on one resource. */
  readonly name?: string;
}

const PATH =
  /^\/compute\/v1\/projects\/([^/]+)\/global\/(images|operations)(?:\/([^/]+))?(?:\/([^/]+))?\/?$/;

/** By `HTTP-METHOD collection[/][verb]`; `images/family/F` is images.getFromFamily of F. */
const METHODS: Record<string, string | undefined> = {
  "POST images": "images.insert",
  "GET images": "images.list",
  "GET images/": "images.get",
  "DELETE images/": "images.delete",
  "POST images/deprecate": "images.deprecate",
  "POST images/setLabels": "images.setLabels",
  "GET images/getIamPolicy": "images.getIamPolicy",
  "POST images/setIamPolicy": "images.setIamPolicy",
  "POST images/testIamPermissions": "images.testIamPermissions",
  "GET operations": "globalOperations.list",
  "GET operations/": "globalOperations.get",
  "DELETE operations/": "globalOperations.delete",
  "POST operations/wait": "globalOperations.wait",
};

/** Maps `METHOD /compute/v1/...` to a Compute method, or undefined for anything else. */
export function matchComputeRoute(httpMethod: string, pathname: string): ComputeRoute | undefined {
  const match = PATH.exec(pathname);
  if (match === null) return undefined;
  const [, project = "", collection = "", name, verb] = match;
  const decoded = decodeURIComponent(project);
  if (httpMethod === "GET" && collection === "images" && name === "family" && verb !== undefined)
    return { method: "images.getFromFamily", project: decoded, name: decodeURIComponent(verb) };
  const key = `${httpMethod} ${collection}${name === undefined ? "" : "/"}${verb ?? ""}`;
  const method = METHODS[key];
  if (method === undefined) return undefined;
  return name === undefined
    ? { method, project: decoded }
    : { method, project: decoded, name: decodeURIComponent(name) };
}
