"""The strict YAML reader the deployment tests use: what it reads, and what it refuses rather
than read differently from Docker (YAML 1.2) or PyYAML (YAML 1.1)."""

from __future__ import annotations

import pytest

from tests.deploy.yaml_subset import YamlSubsetError, load


def test_reads_the_yaml_the_deployment_files_use() -> None:
    text = """
x-base: &base  # an anchor
  image: app:1
  ports: ["127.0.0.1:80:80",
          '443:443']
services:
  one:
    <<: *base
    image: app:2  # a merged key is overridden
    command: ["sh", "-c", "echo '#not a comment'"]
    env:
      URL: ${URL:-http://x:80/y}
      EMPTY: ""
      QUOTE: 'it''s'
      N: 8080
      F: 2.5
      FLAG: true
      NONE:
  list:
    - plain
    - key: value
      other: [a, b]
    -
      nested: 1
"""
    assert load(text) == {
        "x-base": {"image": "app:1", "ports": ["127.0.0.1:80:80", "443:443"]},
        "services": {
            "one": {
                "image": "app:2",
                "ports": ["127.0.0.1:80:80", "443:443"],
                "command": ["sh", "-c", "echo '#not a comment'"],
                "env": {
                    "URL": "${URL:-http://x:80/y}",
                    "EMPTY": "",
                    "QUOTE": "it's",
                    "N": 8080,
                    "F": 2.5,
                    "FLAG": True,
                    "NONE": None,
                },
            },
            "list": ["plain", {"key": "value", "other": ["a", "b"]}, {"nested": 1}],
        },
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: yes\n",  # a boolean to YAML 1.1, a string to YAML 1.2
        "a: 12:30\n",  # sexagesimal 750 to YAML 1.1
        "a: 0600\n",  # octal to YAML 1.1
        "a: |\n  block\n",
        "a: {b: 1}\n",
        "a: [1, [2]]\n",
        "a: 1\na: 2\n",
        "a:\n\tb: 1\n",
        "a: *missing\n",
        "a: b\n  c: d\n",
        "a: [1, 2\n",
        "---\na: 1\n",
    ],
)
def test_refuses_what_it_could_read_differently(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        load(text)
