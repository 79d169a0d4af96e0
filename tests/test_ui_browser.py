"""The web app in a real headless Chromium: predict, add classes, train, evaluate; screenshots of every tab.

Screenshots go to a temporary folder; `python tools/screenshots.py` runs these tests with ZSL_SCREENSHOTS
set to assets/screenshots/ to refresh the README's."""

import json
import os
import re
from pathlib import Path

import pytest
from ui_app import closest_unseen, running_app, sample_photos

from zsl_app.app.names import display_name
from zsl_app.storage.paths import PROJECT_ROOT

EVIL = "<a href='http://evil.example/'>CLICK</a>"

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `playwright install` cannot download here
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
TIMEOUT_MS = 60_000

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python driver)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)
sync_api.expect.set_options(timeout=TIMEOUT_MS)  # a class added on a busy 2-core machine can take over 5 s


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_browser")) as (url, predictor):
        yield url, predictor


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Classify").wait_for()
    return page


@pytest.fixture(scope="module")
def page(app, browser):
    yield open_page(browser, app[0])


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where screenshots go: a temporary folder, or $ZSL_SCREENSHOTS (tools/screenshots.py)."""
    folder = Path(os.environ.get("ZSL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_photo(page, path: Path) -> None:
    page.get_by_role("tab", name="Predict").click()
    page.locator("#photo input[type=file]").set_input_files(str(path))


def top5(page) -> list[str]:
    """The class lines of the top-5 label, e.g. 'Gadwall (seen)'."""
    text = page.locator("#top5").inner_text()
    return [line.strip() for line in text.splitlines() if re.search(r"\((seen|unseen|user-added)\)$", line.strip())]


def wait_for_top5(page, first: str) -> list[str]:
    page.locator("#top5").get_by_text(first).first.wait_for()
    return top5(page)[-5:]


def toast(page, text: str) -> None:
    """An error toast saying `text` appears (then it is closed)."""
    page.locator(".toast-body").filter(has_text=text).first.wait_for()
    page.locator(".toast-body .toast-close").first.click()


def screenshot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name), full_page=True)


def expected_lines(predictor, photo) -> list[str]:
    kinds = {"seen": "seen", "unseen": "unseen", "user": "user-added"}
    return [f"{display_name(r.name, r.kind)} ({kinds[r.kind]})" for r in predictor.predict(photo, top=5).ranked]


def error_badges(page) -> int:
    """Gradio's red "Error" badges over outputs (not the toasts): those on screen."""
    return page.evaluate("""() => [...document.querySelectorAll('.wrap .error')].filter(e =>
        !e.closest('.hide') && e.offsetParent !== null && e.getBoundingClientRect().width > 0).length""")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the dropdown labelled `label`, typing it key by key as a person would."""
    dropdown = page.get_by_label(label)
    dropdown.click()
    dropdown.fill("")
    dropdown.press_sequentially(option)  # key by key, as the dropdown filters on typing
    page.get_by_role("option", name=option, exact=True).click()


def test_the_first_line_says_what_the_model_knows(page):
    intro = page.locator("#intro").inner_text()
    assert "200 bird species, mostly North American (CUB-200-2011)" in intro
    assert "unseen ones it never saw a photo of" in intro


def test_upload_a_photo_and_read_the_top5(page, app, screenshots):
    _, predictor = app
    photo = sample_photos()[0]
    upload_photo(page, photo)
    expected = expected_lines(predictor, photo)
    assert wait_for_top5(page, expected[0]) == expected
    page.get_by_text(" ms").first.wait_for()  # the latency beside the model in use
    assert page.locator("text=read in the photo").count() >= 1
    screenshot(page, screenshots, "predict.png")


def test_a_broken_upload_and_remove_image_leave_empty_outputs(page, app, tmp_path):
    """A bad photo put red Error badges over every output (one over the model line), and "Remove image" left
    the Why tables headed "1 2 3"."""
    _, predictor = app
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo at all")
    upload_photo(page, notes)
    toast(page, "Invalid file type: notes.txt")  # refused by the page itself
    disguised = tmp_path / "holiday.jpg"
    disguised.write_text("text in a .jpg file")
    upload_photo(page, disguised)
    page.locator(".toast-body").filter(has_text="holiday.jpg is not an image").first.wait_for()  # by the server
    sync_api.expect(page.locator("#top5")).not_to_contain_text("(seen)")  # no answer of an earlier photo
    page.wait_for_timeout(500)
    assert error_badges(page) == 0
    page.locator(".toast-body .toast-close").first.click()

    photo = sample_photos()[3]
    upload_photo(page, photo)
    expected = expected_lines(predictor, photo)
    assert wait_for_top5(page, expected[0]) == expected
    page.locator("#photo").get_by_role("button", name="Remove Image").click()
    sync_api.expect(page.locator("#top5")).not_to_contain_text(expected[0])
    for table in ("#read", "#has"):
        sync_api.expect(page.locator(table)).to_contain_text("attribute")  # headers, no rows
        assert "1\n2\n3" not in page.locator(table).inner_text() and "█" not in page.locator(table).inner_text()
    assert error_badges(page) == 0


def test_add_a_bad_then_a_good_class_keeping_the_filter(page, app, tmp_path, screenshots):
    _, predictor = app
    photo, unseen, rank = closest_unseen(predictor)
    upload_photo(page, photo)
    wait_for_top5(page, expected_lines(predictor, photo)[0])
    before = predictor.class_table()

    page.get_by_role("tab", name="Classes").click()
    page.locator("#class-search textarea, #class-search input").first.fill("crowned")
    table = page.locator("#classes")
    sync_api.expect(table).to_contain_text("Orange-crowned Warbler")  # CUB's hyphenated name, from its id
    sync_api.expect(table).not_to_contain_text("Laysan Albatross")
    bad = tmp_path / "too_big.json"
    bad.write_text(json.dumps({predictor.attribute_names[0]: 150}))
    page.locator("#vector-file input[type=file]").set_input_files(str(bad))
    sync_api.expect(page.locator("#new-vector")).to_contain_text("150")  # the upload has filled the editor
    page.locator("#new-name textarea, #new-name input").first.fill("Twin class")
    page.get_by_role("button", name="Add class").click()
    toast(page, "is 150")
    assert predictor.class_table() == before and error_badges(page) == 0

    choose(page, "start from", display_name(unseen))
    page.get_by_role("button", name="Add class").click()
    page.locator("#class-status").get_by_text("added").wait_for()
    assert predictor.class_table()[-1] == {"name": "Twin class", "kind": "user"}
    page.wait_for_timeout(1000)  # the lists are refreshed after the add
    sync_api.expect(table).to_contain_text("Orange-crowned Warbler")  # the search still applies after an add
    sync_api.expect(table).not_to_contain_text("Laysan Albatross")
    page.get_by_role("radio", name="user-added").check()
    page.locator("#class-search textarea, #class-search input").first.fill("")
    sync_api.expect(table).to_contain_text("Twin class")
    page.get_by_role("radio", name="all").check()
    page.locator("#class-search textarea, #class-search input").first.fill("warbler")
    sync_api.expect(table).to_contain_text("Bay-breasted Warbler")
    page.wait_for_function("() => !document.querySelector('#classes .wrap:not(.hide)')")  # no longer loading
    screenshot(page, screenshots, "classes.png")

    page.get_by_role("tab", name="Predict").click()  # re-predicted at once on the photo shown
    if rank <= 2:  # see test_ui_api: the twin of so high an unseen class makes the top 5
        page.locator("#top5").get_by_text("Twin class (user-added)").first.wait_for()


def test_train_shows_progress_and_a_readable_loss_chart(page, screenshots):
    page.get_by_role("tab", name="Train").click()
    # 40 iterations: a few reports (one per 10 steps) per fit, so that the chart shows lines
    for label, value in (("iters (training length)", "40"), ("synthetic samples per unseen class", "10"),
                         ("classifier epochs", "2")):
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Train", exact=True).click()
    status = page.locator("#train-status")
    # stage, step/total, loss, ETA; loading the benchmark first can take minutes on a busy machine
    sync_api.expect(status).to_contain_text("left in this stage", timeout=300_000)
    assert re.search(r"step \d+/\d+", status.inner_text())
    sync_api.expect(page.locator("#train-results")).to_contain_text("test_uncalibrated", timeout=300_000)
    assert "saved the run" in status.inner_text()
    page.locator("#train-curve img").wait_for()  # the chart, drawn (its lines: test_loss_chart in test_ui_api)
    page.wait_for_timeout(500)
    screenshot(page, screenshots, "train.png")


def test_evaluate_tab_shows_metrics_and_plots(page, screenshots):
    page.get_by_role("tab", name="Evaluate").click()
    sync_api.expect(page.locator("#evaluate-note")).to_contain_text("recomputed", timeout=120_000)
    sync_api.expect(page.locator("#evaluate-note")).to_contain_text("sha256")  # which checkpoint answers
    sync_api.expect(page.get_by_text("test (recomputed now)").last).to_be_visible()
    sync_api.expect(page.locator("#evaluate-help")).to_contain_text("their harmonic mean")  # U, S, H, ZSL in words
    page.wait_for_timeout(1000)  # let the two figures render
    screenshot(page, screenshots, "evaluate.png")


def test_class_names_show_as_text_never_as_markup(page, app):
    """A stored name once became a live link in the status line and in toasts that quote it."""
    _, predictor = app
    page.get_by_role("tab", name="Classes").click()
    page.locator("#new-name textarea, #new-name input").first.fill(EVIL)
    choose(page, "start from", display_name(predictor.class_table()[0]["name"]))
    page.get_by_role("button", name="Add class").click()
    sync_api.expect(page.locator("#class-status")).to_contain_text(f"added {EVIL}")
    page.get_by_role("button", name="Add class").click()
    page.locator(".toast-body").filter(has_text=EVIL).first.wait_for()  # "a user class named ... already exists"
    assert page.locator("a[href*='evil.example']").count() == 0
    page.locator(".toast-body .toast-close").first.click()
    predictor.remove_class(EVIL)


def test_make_a_run_active_and_go_back_to_the_shipped_default(page, app):
    """A run once showed the shipped model's line while its answers changed, and only a restart led back.
    Last on this server: the model it loads keeps its user classes in this test's user folder."""
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("for every visitor of this server").first.wait_for()
    run = page.locator("#models input").input_value()  # the training above selected its run
    assert "trained here" in run
    page.get_by_role("button", name="Make active").click()
    sync_api.expect(page.locator("#active-model")).to_contain_text("in the runs folder")
    page.get_by_role("tab", name="Predict").click()
    sync_api.expect(page.locator("#model-line")).to_contain_text(f"{run.split(' ')[0]} in the runs folder")
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("button", name="Back to the shipped default").click()
    sync_api.expect(page.locator("#active-model")).to_contain_text("weights/")
    page.get_by_role("tab", name="Predict").click()
    sync_api.expect(page.locator("#model-line")).not_to_contain_text("in the runs folder")


def test_a_read_only_server_hides_every_change(browser, tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_read_only"), read_only=True) as (url, _):
        page = open_page(browser, url)
        page.get_by_text("Read-only demo").wait_for()
        page.get_by_role("tab", name="Classes").click()
        page.get_by_text("Adding and removing classes is switched off on this server.").wait_for()
        assert not page.get_by_role("button", name="Add class").is_visible()
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Training and changing the active model are switched off on this server.").wait_for()
        assert not page.get_by_role("button", name="Train", exact=True).is_visible()
        assert not page.get_by_role("button", name="Make active").is_visible()
        page.close()


def test_a_fresh_install_says_what_is_missing_without_error_badges(browser, tmp_path_factory):
    """Empty dropdowns, "none found under the data root?", red Error badges on four panels, two empty plot frames."""
    tmp = tmp_path_factory.mktemp("ui_fresh")
    (tmp / "empty").mkdir()
    with running_app(tmp, data_root=tmp / "empty") as (url, _):
        page = open_page(browser, url)
        page.get_by_role("tab", name="Train").click()
        note = page.locator("#train-no-data")
        sync_api.expect(note).to_contain_text("No benchmark data yet")
        sync_api.expect(note).to_contain_text("python app.py --download xlsa17")
        sync_api.expect(note).to_contain_text("python app.py --extract cub --backbone effnet-lite2")
        assert not page.get_by_role("button", name="Train", exact=True).is_visible()
        page.get_by_role("tab", name="Evaluate").click()
        sync_api.expect(page.locator("#evaluate-note")).to_contain_text("metrics saved with the model only")
        sync_api.expect(page.locator("#evaluate-metrics")).to_contain_text("test_uncalibrated")
        sync_api.expect(page.locator("#evaluate-charts")).to_be_hidden()
        page.wait_for_timeout(500)
        assert error_badges(page) == 0
        page.close()


def test_describe_in_words_and_a_cat_gets_a_notice(page, app):
    _, predictor = app
    page.get_by_role("tab", name="Classes").click()
    page.get_by_role("tab", name="in words").click()
    text = page.locator("#describe-text textarea").first
    text.fill("glorp fnord")
    page.locator("#read-words").click()
    toast(page, "no word of the description names an attribute")
    assert error_badges(page) == 0
    text.fill("small, red crown, black wings, glorp")
    page.locator("#read-words").click()
    sync_api.expect(page.locator("#understood")).to_contain_text("crown color: red")
    sync_api.expect(page.locator("#not-understood")).to_contain_text("not understood: glorp")

    cat = PROJECT_ROOT / "assets" / "examples" / "chelsea.jpg"
    if predictor.predict(cat).domain is None:
        pytest.skip("this model has no photo reading")
    upload_photo(page, cat)
    sync_api.expect(page.locator("#model-line")).to_contain_text("This photo does not look like a bird (P(bird)")
    sync_api.expect(page.locator("#model-line")).to_contain_text("not an identification")


def test_describe_by_parts_searched_across_groups_at_a_strength(page, app):
    _, predictor = app
    first = predictor.attribute_names[0]  # the editor's first row (its rows below the fold are not in the page)
    page.get_by_role("tab", name="Classes").click()
    page.get_by_role("tab", name="by parts").click()
    choose(page, "search every part", first)
    page.locator("#parts-strength input[type=number]").fill("70")
    page.locator("#parts-strength input[type=number]").press("Enter")
    page.locator("#set-parts").click()
    sync_api.expect(page.locator("#new-vector")).to_contain_text(re.compile(re.escape(first) + r"\s+70\s"))
    assert error_badges(page) == 0


def test_describe_from_photos_reads_each_photo(page):
    photos = sample_photos()[:3]
    page.get_by_role("tab", name="Classes").click()
    page.get_by_role("tab", name="from photos").click()
    page.locator("#class-photos input[type=file]").set_input_files([str(p) for p in photos])
    page.get_by_role("button", name="Read photos").click()
    for photo in photos:
        sync_api.expect(page.locator("#photo-reading")).to_contain_text(photo.name)
    sync_api.expect(page.locator("#photo-reading")).to_contain_text("looks like a bird")
    sync_api.expect(page.locator("#photo-reading")).to_contain_text("keeps these 3 photos as examples")
    assert error_badges(page) == 0
