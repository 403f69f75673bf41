// A nodejs:20 action written with Wisp's SDK: typed parameters, a log line
// and an application error. Deploy it as plain code:
//
//   wisp action create hello index.js --kind nodejs:20
//   wisp action invoke hello -p name Ada -p times 2 --result
const wisp = require('@wispfaas/wisp');

exports.main = wisp.action(
  { name: wisp.t.string(), times: wisp.t.integer().default(1) },
  async ({ name, times }, activation) => {
    if (times < 1) throw new wisp.ActionError('times must be at least 1', { times });
    wisp.log.info('greeting', name, 'in activation', activation.id);
    return { greeting: Array(times).fill(`Hello ${name}!`).join(' '), activation: activation.id };
  },
);
