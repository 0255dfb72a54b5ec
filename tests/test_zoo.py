"""The model zoo: where weights files are looked for, in which order, and what a user is told."""

from __future__ import annotations

import pytest

from bigprior import zoo
from bigprior.errors import BIGPriorError


@pytest.fixture
def empty_places(tmp_path, monkeypatch):
    """A workspace with no weights anywhere: cwd, $BIGPRIOR_WEIGHTS, XDG and torch hub all in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(zoo.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


def test_folders_in_order_flag_env_workspace_release_caches(empty_places, monkeypatch):
    monkeypatch.setenv(zoo.WEIGHTS_ENV, str(empty_places / "env"))
    folders = zoo.weights_dirs(empty_places / "flag")
    assert folders[:5] == [empty_places / "flag", empty_places / "cache" / "weights",
                           empty_places / "code" / "mganprior" / "models" / "pretrain" / "pytorch",
                           empty_places / "xdg" / "torch" / "checkpoints", empty_places / "torch_home" / "hub" / "checkpoints"]
    assert zoo.weights_dirs()[0] == empty_places / "env"  # no flag: the environment variable


def test_a_zoo_name_is_found_in_the_first_folder_that_has_it(empty_places):
    name = zoo.MODEL_ZOO["pggan_bedroom"].files[0]
    with pytest.raises(BIGPriorError) as err:
        zoo.resolve_generator_path("pggan_bedroom")
    assert name in str(err.value) and str(empty_places / "cache" / "weights") in str(err.value)
    for folder in (empty_places / "code" / "mganprior" / "models" / "pretrain" / "pytorch", empty_places / "cache" / "weights"):
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"x")
        assert zoo.resolve_generator_path("pggan_bedroom") == folder / name  # the workspace cache wins over the release's
    flag = empty_places / "mine"
    flag.mkdir()
    (flag / name).write_bytes(b"x")
    assert zoo.resolve_generator_path("pggan_bedroom", weights_dir=flag) == flag / name


def test_no_name_is_the_built_in_generator_and_unknown_names_are_listed(empty_places):
    assert zoo.resolve_generator_path() == zoo.DEFAULT_GENERATOR and zoo.DEFAULT_GENERATOR.is_file()
    with pytest.raises(BIGPriorError, match="--gan_model 'pggan_nope': unknown model; known: .*pggan_bedroom"):
        zoo.resolve_generator_path("pggan_nope")
    with pytest.raises(BIGPriorError, match="--gan_weights .*gone.pth: generator weights not found"):
        zoo.resolve_generator_path(gan_weights=str(empty_places / "gone.pth"))


def test_stylegan2_names_say_where_they_are_published(empty_places):
    with pytest.raises(BIGPriorError, match=r"stylegan2_ffhq1024.pth or ffhq\.pkl not found.*nvlabs-fi-cdn"):
        zoo.resolve_generator_path("stylegan2_ffhq")



@pytest.mark.parametrize("command", [
    ["restore", "--task", "denoise", "--input", "photo.png", "--out", "out", "--gan_model", "pggan_bedroom"],
    ["check-inversion", "--gan_model", "pggan_bedroom", "--count", "1"],
])
def test_commands_look_in_their_weights_dir_flag(empty_places, command, capsys):
    """`--weights_dir` reaches the zoo: the one-line error names the flag's folder as the place to put the file."""
    from PIL import Image

    from bigprior.cli import main

    Image.new("RGB", (8, 8)).save(empty_places / "photo.png")
    mine = empty_places / "mine"
    mine.mkdir()
    assert main([*command, "--weights_dir", str(mine)]) != 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "pggan_bedroom256_generator.pth" in last and f"put pggan_bedroom256_generator.pth in {mine}" in last
