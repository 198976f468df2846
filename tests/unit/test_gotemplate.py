"""jocker/gotemplate.py: Go's text/template with docker's functions, as
`docker inspect --format` prints (values checked against Docker 20.10 in
tests/integration/test_docker_reference.py)."""

from __future__ import annotations

import pytest

from jocker import errors as E
from jocker.gotemplate import TemplateError, go_str, render

DATA = {
    "Name": "/web", "Config": {"Cmd": ["sh", "-c", "exit 3"], "Labels": {"b": "2", "a": "1"},
                               "Entrypoint": None, "Volumes": None, "User": ""},
    "State": {"Running": False, "ExitCode": 3}, "Mounts": [{"Destination": "/d"}, {"Destination": "/e"}],
}


@pytest.mark.parametrize("template,expected", [
    ("{{.Config.Cmd}}", "[sh -c exit 3]"),
    ("{{.Config.Labels}}", "map[a:1 b:2]"),
    ("{{.Config.Entrypoint}} {{json .Config.Entrypoint}} {{.Config.Volumes}}", "[] null map[]"),
    ('{{json .Config.Labels}}', '{"b":"2","a":"1"}'),
    ('{{index .Config.Labels "a"}}{{index .Config.Labels "zz"}}|', "1|"),
    ('{{join .Config.Cmd ","}} {{split "a:b" ":"}} {{len .Mounts}}', "sh,-c,exit 3 [a b] 2"),
    ('{{upper .Name}} {{lower "AB"}} {{title "hello world"}}', "/WEB ab Hello World"),
    ("{{range $i, $m := .Mounts}}{{$i}}={{$m.Destination}} {{end}}", "0=/d 1=/e "),
    ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
    ("{{if .State.Running}}up{{else if eq .State.ExitCode 3}}three{{else}}down{{end}}", "three"),
    ("{{with .Config.User}}{{.}}{{else}}root{{end}}", "root"),
    ("{{range .Config.Cmd -}} <{{.}}> {{- end}}", "<sh><-c><exit 3>"),
    ('{{printf "%s-%03d" .Name .State.ExitCode}} {{.State.ExitCode | printf "%d!"}}', "/web-003 3!"),
    ("{{(index .Mounts 1).Destination}} {{$x := .Name}}{{$x}}", "/e /web"),
    ("{{/* a comment */}}{{not .State.Running}} {{and 1 0}} {{or 0 \"b\"}}", "true 0 b"),
    ("{{.Config.Labels.zz}}", "<no value>"),
])
def test_render(template, expected):
    assert render(template, DATA) == expected


def test_go_number_printing():
    assert [go_str(v) for v in (3, 1.5, 1e6, 123456.0, 1234567.0, 0.0001, 1e-5, None, True)] == \
        ["3", "1.5", "1e+06", "123456", "1.234567e+06", "0.0001", "1e-05", "<nil>", "true"]


@pytest.mark.parametrize("template,kind", [
    ("{{.Config.Cmd", E.INVALID_TEMPLATE), ("{{end}}", E.INVALID_TEMPLATE),
    ("{{if .Name}}", E.INVALID_TEMPLATE), ("{{nosuch .Name}}", E.INVALID_TEMPLATE),
    ("{{.NoSuchKey}}", E.TEMPLATE_FAILED), ("{{.State.ExitCode.X}}", E.TEMPLATE_FAILED),
    ("{{index .Mounts 9}}", E.TEMPLATE_FAILED),
])
def test_errors_and_their_kinds(template, kind):
    with pytest.raises(TemplateError) as info:
        render(template, DATA)
    assert info.value.kind == kind and str(info.value).startswith("template: ")
