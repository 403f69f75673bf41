"""Tests of wisp.py: python3 -m unittest (from sdk/python)."""

import dataclasses
import enum
import importlib.util
import io
import os
import sys
import typing
import unittest
from unittest import mock

import wisp

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclasses.dataclass
class Address:
    city: str
    zip: typing.Optional[str] = None


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Params:
    name: str
    age: int = 0
    score: float = 0.0
    admin: bool = False
    tags: typing.List[str] = dataclasses.field(default_factory=list)
    address: typing.Optional[Address] = None
    color: Color = Color.RED
    mode: typing.Literal["fast", "slow"] = "fast"
    extra: typing.Dict[str, int] = dataclasses.field(default_factory=dict)


class Order(typing.TypedDict):
    item: str
    count: int


class Partial(typing.TypedDict, total=False):
    note: str


class DecodeTest(unittest.TestCase):
    def test_ok(self):
        p = wisp.decode(Params, {
            "name": "Ada", "age": 36, "score": 3, "admin": True, "tags": ["a", "b"],
            "address": {"city": "London"}, "color": "blue", "mode": "slow",
            "extra": {"x": 1}, "__ow_method": "get",
        })
        self.assertEqual(p, Params("Ada", 36, 3.0, True, ["a", "b"], Address("London"), Color.BLUE, "slow", {"x": 1}))
        self.assertIsInstance(p.score, float)

    def test_defaults(self):
        self.assertEqual(wisp.decode(Params, {"name": "Ada"}), Params("Ada"))

    def test_typeddict(self):
        self.assertEqual(wisp.decode(Order, {"item": "tea", "count": 2, "x": 1}), {"item": "tea", "count": 2})
        self.assertEqual(wisp.decode(Partial, {}), {})
        with self.assertRaises(wisp.ParamsError) as c:
            wisp.decode(Order, {"item": "tea"})
        self.assertEqual(c.exception.path, "count")

    def test_errors(self):
        cases = [
            ({}, "name", "is missing"),
            ({"name": 3}, "name", "must be a string, not a number 3"),
            ({"name": "a", "age": "x"}, "age", "must be an integer, not a string 'x'"),
            ({"name": "a", "age": True}, "age", "must be an integer, not a boolean"),
            ({"name": "a", "age": 1.5}, "age", "must be an integer"),
            ({"name": "a", "admin": "yes"}, "admin", "must be a boolean"),
            ({"name": "a", "tags": "x"}, "tags", "must be an array"),
            ({"name": "a", "tags": ["x", 2]}, "tags[1]", "must be a string"),
            ({"name": "a", "address": {}}, "address.city", "is missing"),
            ({"name": "a", "address": {"city": "c", "zip": 1}}, "address.zip", "must be"),
            ({"name": "a", "color": "green"}, "color", "must be one of 'red', 'blue'"),
            ({"name": "a", "mode": "medium"}, "mode", "must be one of 'fast', 'slow'"),
            ({"name": "a", "extra": {"k": "v"}}, "extra.k", "must be an integer"),
        ]
        for params, path, problem in cases:
            with self.subTest(params=params):
                with self.assertRaises(wisp.ParamsError) as c:
                    wisp.decode(Params, params)
                self.assertEqual(c.exception.path, path)
                self.assertIn(problem, c.exception.problem)
                self.assertIn(repr(path), c.exception.wisp_result()["error"])

    def test_not_an_object(self):
        with self.assertRaises(wisp.ParamsError) as c:
            wisp.decode(Params, ["x"])
        self.assertEqual(c.exception.wisp_result(), {"error": "the parameters must be an object, not an array ['x']"})

    def test_unsupported_type(self):
        with self.assertRaises(TypeError):
            wisp.decode(bytes, "x")


class ActionTest(unittest.TestCase):
    def test_typed(self):
        @wisp.action
        def main(p: Params) -> dict:
            return {"hello": p.name, "age": p.age}

        self.assertEqual(main({"name": "Ada", "age": 3}), {"hello": "Ada", "age": 3})
        self.assertEqual(main({"age": 3}), {"error": "parameter 'name' is missing (str)"})
        self.assertEqual(main.__name__, "main")

    def test_dataclass_result(self):
        @dataclasses.dataclass
        class Out:
            greeting: str

        @wisp.action(params=Order)
        def main(o):
            return Out(o["item"] * o["count"])

        self.assertEqual(main({"item": "a", "count": 3}), {"greeting": "aaa"})

    def test_action_error(self):
        @wisp.action
        def main(p: dict):
            raise wisp.ActionError("no luck", code=7)

        self.assertEqual(main({}), {"error": "no luck", "code": 7})

    def test_untyped_and_no_params(self):
        @wisp.action
        def echo(p):
            return p

        @wisp.action
        def const():
            return {"k": 1}

        self.assertEqual(echo({"a": 1}), {"a": 1})
        self.assertEqual(echo(None), {})
        self.assertEqual(const({"a": 1}), {"k": 1})

    def test_async(self):
        import asyncio

        @wisp.action
        async def main(p: Order):
            await asyncio.sleep(0)
            if p["count"] < 0:
                raise wisp.ActionError("negative")
            return {"n": p["count"]}

        self.assertEqual(asyncio.run(main({"item": "a", "count": 2})), {"n": 2})
        self.assertEqual(asyncio.run(main({"item": "a", "count": -1})), {"error": "negative"})
        self.assertEqual(asyncio.run(main({"item": "a"})), {"error": "parameter 'count' is missing (int)"})

    def test_bad_result(self):
        @wisp.action
        def main(p):
            return [1]

        with self.assertRaisesRegex(TypeError, "not a dict"):
            main({})

    def test_other_exceptions_propagate(self):
        @wisp.action
        def main(p):
            raise KeyError("x")

        with self.assertRaises(KeyError):
            main({})


class ActivationTest(unittest.TestCase):
    def test_from_env(self):
        env = {"__OW_ACTIVATION_ID": "a1", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/hi",
               "__OW_ACTION_VERSION": "0.0.1", "__OW_API_HOST": "http://h", "__OW_API_KEY": "k",
               "__OW_DEADLINE": "4102444800000"}
        with mock.patch.dict(os.environ, env):
            a = wisp.activation()
        self.assertEqual((a.id, a.namespace, a.action_name, a.action_version, a.api_host, a.api_key),
                         ("a1", "guest", "/guest/hi", "0.0.1", "http://h", "k"))
        self.assertEqual(a.deadline.year, 2100)
        self.assertGreater(a.remaining(), 0)

    def test_missing(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            a = wisp.activation()
        self.assertEqual(a.id, "")
        self.assertIsNone(a.deadline)
        self.assertIsNone(a.remaining())


class LogTest(unittest.TestCase):
    def test_log_goes_to_current_stderr(self):
        buf = io.StringIO()
        with mock.patch.object(sys, "stderr", buf):
            wisp.log.info("hello %s", "there")
            wisp.log.debug("not shown")
        self.assertEqual(buf.getvalue(), "INFO hello there\n")


class ExampleTest(unittest.TestCase):
    def load(self):
        path = os.path.join(HERE, "examples", "hello", "__main__.py")
        spec = importlib.util.spec_from_file_location("example_hello", path)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        return m

    def test_example(self):
        m = self.load()
        with mock.patch.dict(os.environ, {"__OW_ACTIVATION_ID": "x1"}), mock.patch.object(sys, "stderr", io.StringIO()):
            self.assertEqual(m.main({"name": "Ada", "times": 2}),
                             {"greeting": "Hello Ada! Hello Ada!", "activation": "x1"})
            self.assertEqual(m.main({"name": "Ada", "times": 0}), {"error": "times must be at least 1", "times": 0})
            self.assertEqual(m.main({}), {"error": "parameter 'name' is missing (str)"})


if __name__ == "__main__":
    unittest.main()
