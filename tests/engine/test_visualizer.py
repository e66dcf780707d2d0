"""The run's visualizer makes its matplotlib figure only when something draws on it."""
import numpy as np

from gancore.engine.visualizer import FIGURE_ATTRIBUTES, LazyFigureVisualizer, lazy_visualizer_cfg
from gancore.testing import mmengine_instances_dropped


def test_the_figure_is_made_on_first_use_and_draws_like_mmengines(tmp_path):
    with mmengine_instances_dropped():
        vis = LazyFigureVisualizer.get_instance('lazy_vis_test', save_dir=str(tmp_path),
                                                vis_backends=[dict(type='LocalVisBackend')])
        assert not set(FIGURE_ATTRIBUTES) & set(vis.__dict__)  # nothing made yet
        image = np.zeros((12, 16, 3), np.uint8)
        image[2:5, 3:9] = 255
        vis.set_image(image)
        vis.draw_bboxes(np.array([[1, 1, 6, 6]]), edge_colors='g')
        drawn = vis.get_image()
        assert drawn.shape == (12, 16, 3) and vis.dpi == vis.fig_save.get_dpi()
        assert (drawn != image).any()  # the box was drawn on the figure
        vis.add_image('img', image, step=1)  # the backends were built at once
        assert list((tmp_path / 'vis_data' / 'vis_image').glob('img_1.png'))


def test_only_mmengines_plain_visualizer_is_replaced():
    cfg = dict(type='Visualizer', vis_backends=[])
    assert lazy_visualizer_cfg(cfg)['type'] is LazyFigureVisualizer and cfg['type'] == 'Visualizer'
    other = dict(type='MyVisualizer')
    assert lazy_visualizer_cfg(other) is other and lazy_visualizer_cfg(None) is None


def test_the_test_harness_drops_its_instances():
    with mmengine_instances_dropped():
        LazyFigureVisualizer.get_instance('lazy_vis_dropped')
    assert 'lazy_vis_dropped' not in LazyFigureVisualizer._instance_dict
