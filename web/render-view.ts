import type { Application } from "express";

/** A view rendered to a string with the app's settings, for answers that are not one whole response (SSE). */
export function renderView(app: Application, name: string, locals: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    app.render(name, locals, (err: Error | null, html?: string) => {
      if (err) reject(err);
      else resolve(html ?? "");
    });
  });
}
