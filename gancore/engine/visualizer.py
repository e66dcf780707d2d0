"""The run's visualizer: mmengine's, without matplotlib until something draws on it.

mmengine's :class:`~mmengine.visualization.Visualizer` builds a matplotlib figure
in its constructor (importing matplotlib: a third of a second of every training
start), for drawing methods (``draw_bboxes``, ``set_image`` ...) that gancore
never calls: its hooks hand images and scalars to the backends (files,
TensorBoard). :class:`LazyFigureVisualizer` is the same class with that figure
made the first time one of its attributes is read, so a run that never draws
never imports matplotlib. ``GANRunner.build_visualizer`` uses it where a config
asks for mmengine's plain ``Visualizer`` (the default runtime does).
"""
from __future__ import annotations

from mmengine.visualization import Visualizer

#: The attributes mmengine's constructor sets from the figure it makes.
FIGURE_ATTRIBUTES = ('fig_save_canvas', 'fig_save', 'ax_save', 'dpi')


class _NoFigure:
    """Stands in for the figure while mmengine's constructor runs (it reads the dpi)."""

    @staticmethod
    def get_dpi() -> None:
        return None


class LazyFigureVisualizer(Visualizer):
    """mmengine's ``Visualizer`` whose matplotlib figure is made on first use.

    Takes exactly mmengine's arguments (name, image, vis_backends, save_dir,
    fig_save_cfg, fig_show_cfg); the backends are built at once, as before.
    """

    def __init__(self, name: str = 'visualizer', *args, **kwargs) -> None:
        self._defer_figure = True
        try:
            super().__init__(name, *args, **kwargs)
        finally:
            self._defer_figure = False
        for name in FIGURE_ATTRIBUTES:  # read again -> __getattr__ makes the figure
            self.__dict__.pop(name, None)

    def _initialize_fig(self, fig_cfg) -> tuple:
        if self.__dict__.get('_defer_figure'):
            return None, _NoFigure, None
        return super()._initialize_fig(fig_cfg)

    def __getattr__(self, name: str):
        # only called for attributes that are not set: the deferred figure's
        if name in FIGURE_ATTRIBUTES and '_defer_figure' in self.__dict__:
            canvas, figure, axes = super()._initialize_fig(self.fig_save_cfg)
            self.fig_save_canvas, self.fig_save, self.ax_save = canvas, figure, axes
            self.dpi = figure.get_dpi()
            return self.__dict__[name]
        raise AttributeError(f'{type(self).__name__!r} object has no attribute {name!r}')


def lazy_visualizer_cfg(visualizer):
    """``visualizer`` with mmengine's plain ``Visualizer`` replaced by :class:`LazyFigureVisualizer`.

    Any other type (a subclass of the user's, an instance, None) is returned unchanged.
    """
    if isinstance(visualizer, dict) and visualizer.get('type') in (
            'Visualizer', 'mmengine.Visualizer', Visualizer):
        return dict(visualizer, type=LazyFigureVisualizer)
    return visualizer
