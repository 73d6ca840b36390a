"""The codebook-usage plot (g2m/distill/vq_plot.py)."""

from __future__ import annotations


def _png_size(path):
    import struct

    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plot_code_usage_draws_rank_frequency_lines(tmp_path, monkeypatch):
    import matplotlib

    from g2m import utils
    from g2m.distill.vq_plot import plot_code_usage

    saved = []
    real_save = utils.save_figure_atomic
    monkeypatch.setattr(utils, "save_figure_atomic",
                        lambda path, fig, **kw: saved.append((fig, kw)) or real_save(path, fig, **kw))
    run = dict(perplexity=2.6, dead_codes=1, num_codes=4)
    runs = [dict(run, code_counts=[1, 0, 5, 2])] + [dict(run, perplexity=float(i), code_counts=[3, 1])
                                                   for i in range(1, 6)]
    raw = {"tran": runs + [dict(run)], "ind": []}  # a run without code counts draws nothing
    path = tmp_path / "a" / "b" / "usage.png"  # missing parent folders are made
    backend = matplotlib.get_backend()
    assert plot_code_usage(raw, str(path)) == path and path.is_file()
    assert matplotlib.get_backend() == backend  # the process's backend is left alone
    assert _png_size(path) == (1000, 350)  # 5 inches per setting x 3.5, 100 dpi
    fig, kw = saved[-1]
    assert kw == {"dpi": 100} and fig.canvas.manager is None  # not a pyplot figure: nothing left open
    assert len(fig.axes) == 2
    ax, empty = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 6  # the run without code counts adds none
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[0].get_ydata()) == [5, 2, 1]  # used codes only
    assert list(lines[1].get_xdata()) == [1, 2] and list(lines[1].get_ydata()) == [3, 1]
    assert {line.get_linewidth() for line in lines} == {1.0}
    assert [line.get_label() for line in lines[:5]] == ["run 0: ppl 3, dead 1"] + [f"run {i}: ppl {i}, dead 1"
                                                                                 for i in range(1, 5)]
    assert lines[5].get_label().startswith("_")  # only the first five runs are named in the legend
    assert (ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel()) == \
        ("log", "log", "code rank", "nodes assigned")
    assert ax.get_title() == "codebook usage (tran, K=4)" and empty.get_title() == "codebook usage (ind, K=?)"
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "run 0: ppl 3, dead 1"
    assert {t.get_fontsize() for t in ax.get_legend().get_texts()} == {7.0}
    # one setting, into a folder that exists: a 5 x 3.5 inch figure
    one = tmp_path / "one.png"
    plot_code_usage({"tran": [dict(run, code_counts=[2, 2])]}, one)
    assert _png_size(one) == (500, 350) and len(saved[-1][0].axes) == 1
