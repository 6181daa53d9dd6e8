// PostGraphile 5 over capcom's database, as a team would run it in front of the same tables: the Amber
// preset, production mode, the `public` schema, on loopback.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  // PostGraphile hides relations whose foreign key leads no plain index; capcom's deployments are indexed
  // by workspace only for live rows (a partial index). Expose every relation, as a team would.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 16 },
    }),
  ],
  grafserv: { host: "127.0.0.1", port: Number(process.env.PORT ?? 5678), graphiql: false },
  grafast: { explain: false },
};
