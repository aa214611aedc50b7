// Loaded with `node --import` in the image and on the host: prints every module resolution the
// process makes (static imports, dynamic imports and require calls alike), so the suite can
// compare the image's module graph with the working tree's. A resolution that fails throws as usual.
import { registerHooks } from 'node:module';
import { writeSync } from 'node:fs';

registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    writeSync(2, `RESOLVED ${result.url}\n`);
    return result;
  },
});
