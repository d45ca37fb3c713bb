# greenlet.h (shipped inside the greenlet package): the C API the scheduler
# switches fibers with. Every module that cimports this must call
# PyGreenlet_Import() once at import time and check _PyGreenlet_API.
from cpython.object cimport PyObject


cdef extern from "greenlet.h":
    ctypedef struct PyGreenlet:
        pass
    void **_PyGreenlet_API
    void PyGreenlet_Import()
    PyGreenlet *PyGreenlet_GetCurrent()             # new reference
    object PyGreenlet_Switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)
