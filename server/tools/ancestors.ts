/** Every directory on the way to the absolute `path`, itself included: "/", "/a", "/a/b" for "/a/b". */
export function ancestors(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "");
  return ["/", ...parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`)];
}
