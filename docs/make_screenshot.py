"""Screenshots of the drawing page in docs/img/: a digit drawn with pointer events in headless Chromium, on a
desktop screen (1280x900, page.png) and on a phone's (390x844, page-phone.png).

python -m mnist_rnn serve --ckpt_path CKPT &      # a server to photograph
python docs/make_screenshot.py [--url http://127.0.0.1:8000/] [--digit 3] [--upload FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from tests.page_driver import DIGITS, chromium, draw, wait_for_answer  # noqa: E402

IMG = Path(__file__).parent / "img"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--url", default="http://127.0.0.1:8000/")
    parser.add_argument("--digit", default="3", choices=sorted(DIGITS))
    parser.add_argument("--upload", help="upload this image file instead of drawing")
    args = parser.parse_args()
    from selenium.webdriver.common.by import By

    for name, screen in (("page.png", {"width": 1280, "height": 900}), ("page-phone.png", {"phone": True})):
        with chromium(**screen) as driver:
            driver.get(args.url)
            if args.upload:
                driver.find_element(By.ID, "file").send_keys(str(Path(args.upload).resolve()))
            else:
                draw(driver, driver.find_element(By.ID, "pad"), DIGITS[args.digit])
            shown = wait_for_answer(driver)
            print(shown["summary"] or shown["error"])
            driver.save_screenshot(str(IMG / name))
            print(f"wrote {IMG / name}")


if __name__ == "__main__":
    main()
