"""A python:3 action written with Wisp's SDK: typed parameters, a log line
and an application error. Deploy it as plain code:

    wisp action create hello __main__.py --kind python:3
    wisp action invoke hello -p name Ada -p times 2 --result
"""

from dataclasses import dataclass

import wisp


@dataclass
class Params:
    name: str
    times: int = 1


@wisp.action
def main(params: Params) -> dict:
    if params.times < 1:
        raise wisp.ActionError("times must be at least 1", times=params.times)
    act = wisp.activation()
    wisp.log.info("greeting %s in activation %s", params.name, act.id)
    return {"greeting": " ".join(["Hello " + params.name + "!"] * params.times), "activation": act.id}
