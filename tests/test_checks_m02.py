"""Module 02's checks pass right answers, report stubs as unsolved, and name what each wrong answer
gets wrong (in both frameworks): a graph per shape, a trace counted wrong, a graph never captured,
a step that retraces on the last batch, an `if` that breaks the graph, a counter that ran once."""

from helpers import assert_answers_pass_and_stubs_are_unsolved, checks_tests, stub

STUBS = {"02.5": (stub, stub)}


def answers_torch(torch):
    import torch._dynamo
    from torch._dynamo.testing import CompileCounter
    from torch.export import Dim, export

    def count_graphs(fn, inputs, dynamic, reset=True, python_counter=False):
        if reset:
            torch._dynamo.reset()
        counter, runs = CompileCounter(), []

        def counted(x):
            runs.append(1)
            return fn(x)

        graphed = torch.compile(counted if python_counter else fn, backend=counter, dynamic=dynamic)
        for x in inputs:
            graphed(x)
        return len(runs) if python_counter else counter.frame_count

    def fit_graph(model, optimizer, loss_fn, x, y, batch_size, epochs, dynamic=True, zero_grad=True, step=True):
        shapes = {"input": {0: Dim("batch", min=2, max=1024)}} if dynamic else None
        graph_model = export(model, (x[:batch_size],), dynamic_shapes=shapes).module()
        losses = []
        for _ in range(epochs):
            for i in range(0, len(x), batch_size):
                if zero_grad:
                    optimizer.zero_grad()
                loss = loss_fn(graph_model(x[i : i + batch_size]), y[i : i + batch_size])
                loss.backward()
                if step:
                    optimizer.step()
                losses.append(loss.item())
        return graph_model, losses

    def fit_eager(model, optimizer, loss_fn, x, y, batch_size, epochs):
        return model, fit_graph(model, optimizer, loss_fn, x, y, batch_size, epochs)[1]

    def squash_cond(x):
        return torch.cond(x.abs().max() > 1.0, lambda t: t / t.abs().max(), lambda t: t.clone(), (x,))

    def squash_if(x):
        if x.abs().max() > 1.0:
            return x / x.abs().max()
        return x

    def counted(fn, backend):
        counter = torch.zeros((), dtype=torch.int64)

        def wrapped(x):
            counter.add_(1)
            return fn(x)

        return torch.compile(wrapped, backend=backend), counter

    def counted_python(fn, backend):
        calls, counter = [0], torch.zeros((), dtype=torch.int64)

        def wrapped(x):
            calls[0] += 1
            counter.fill_(calls[0])
            return fn(x)

        return torch.compile(wrapped, backend=backend), counter

    def counted_fx(fn, backend):
        counter = torch.zeros((), dtype=torch.int64)

        def wrapped(x):
            counter.add_(1)
            return fn(x)

        return torch.fx.symbolic_trace(wrapped), counter

    right = {
        "02.1": lambda fn, backend: torch.compile(fn, backend=backend, dynamic=True),
        "02.2": count_graphs,
        "02.3": fit_graph,
        "02.4": squash_cond,
        "02.5": (lambda: "B", counted),
    }
    wrong = [
        ("02.1", lambda fn, backend: torch.compile(fn, backend=backend, dynamic=False), "one per length"),
        ("02.1", lambda fn, backend: torch.compile(fn, backend=backend), "the default dynamic=None"),
        ("02.1", lambda fn, backend: fn, "not a compiled function"),
        ("02.2", lambda fn, inputs, dynamic: len(inputs), "5 is the number of calls"),
        ("02.2", lambda *a: count_graphs(*a, python_counter=True), "dynamo replays side effects"),
        ("02.2", lambda fn, inputs, dynamic: len({tuple(x.shape) for x in inputs}), "number of distinct lengths"),
        ("02.2", lambda *a: count_graphs(*a, reset=False), "call torch._dynamo.reset()"),
        ("02.3", lambda *a: fit_graph(*a, dynamic=False), "exported for batch 32 only"),
        ("02.3", lambda *a: fit_graph(*a, zero_grad=False), "optimizer.zero_grad()"),
        ("02.3", lambda *a: fit_graph(*a, step=False), "the weights never changed"),
        ("02.3", fit_eager, "not a captured graph"),
        ("02.3", lambda *a: (fit_graph(*a)[0], fit_graph(*a)[1][:3]), "3 losses for 2 epochs"),
        ("02.4", squash_if, "dynamo broke your function"),
        ("02.4", lambda x: torch.where(x.max() > 1.0, x / x.max(), x), "squash([-4.0, 1.0, 0.5, 2.0]) is off"),
        ("02.5", (lambda: "A", counted), "'A' is not why"),
        ("02.5", (lambda: "B", counted_fx), "the count is 1 after 4 calls"),
        ("02.5", (lambda: "B", counted_python), "guards on the Python number"),
    ]
    return right, wrong


def answers_tf(tf):

    def one_graph(fn):
        return tf.function(fn, input_signature=[tf.TensorSpec([None], tf.float32)])

    def count_traces(fn, inputs, reduce_retracing):
        graphed = tf.function(fn, reduce_retracing=reduce_retracing)
        for x in inputs:
            graphed(x)
        return graphed.experimental_get_tracing_count()

    cached = {}

    def count_cached(fn, inputs, reduce_retracing):  # one tf.function kept across counts
        graphed = cached.setdefault(reduce_retracing, tf.function(fn, reduce_retracing=reduce_retracing))
        for x in inputs:
            graphed(x)
        return graphed.experimental_get_tracing_count()

    def fit_graph(model, optimizer, loss_fn, x, y, batch_size, epochs, signature=True, apply=True, graph=True):
        def step(xb, yb):
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            if apply:
                optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        specs = [tf.TensorSpec([None, x.shape[1]], x.dtype), tf.TensorSpec([None], y.dtype)]
        if graph:
            step = tf.function(step, input_signature=specs) if signature else tf.function(step)
        losses = []
        for _ in range(epochs):
            for i in range(0, len(x), batch_size):
                losses.append(float(step(x[i : i + batch_size], y[i : i + batch_size])))
        return step, losses

    def squash(x):
        peak = tf.reduce_max(tf.abs(x))
        if peak > 1.0:
            x = x / peak
        return x

    def squash_numpy(x):
        peak = tf.reduce_max(tf.abs(x))
        return x / peak if peak.numpy() > 1.0 else x

    def counted(fn):
        counter = tf.Variable(0)

        @tf.function
        def graph_fn(x):
            counter.assign_add(1)
            return fn(x)

        return graph_fn, counter

    def counted_python(fn):
        counter, calls = tf.Variable(0), []

        @tf.function
        def graph_fn(x):
            calls.append(1)
            counter.assign(len(calls))
            return fn(x)

        return graph_fn, counter

    right = {
        "02.1": one_graph,
        "02.2": count_traces,
        "02.3": fit_graph,
        "02.4": squash,
        "02.5": (lambda: "B", counted),
    }
    wrong = [
        ("02.1", tf.function, "one per length, as a plain tf.function"),
        ("02.1", lambda fn: tf.function(fn, reduce_retracing=True), "reduce_retracing=True traces length 3 first"),
        ("02.1", lambda fn: fn, "not a tf.function"),
        (
            "02.1",
            lambda fn: tf.function(fn, input_signature=[tf.TensorSpec([3], tf.float32)]),
            "refused a tensor of length 5",
        ),
        ("02.2", lambda fn, inputs, reduce_retracing: len(inputs), "5 is the number of calls"),
        (
            "02.2",
            lambda fn, inputs, reduce_retracing: len({tuple(x.shape) for x in inputs}),
            "number of distinct lengths",
        ),
        ("02.2", count_cached, "make a fresh tf.function for each count"),
        ("02.3", lambda *a: fit_graph(*a, signature=False), "the step traced 2 times"),
        ("02.3", lambda *a: fit_graph(*a, apply=False), "the weights never changed"),
        ("02.3", lambda *a: fit_graph(*a, graph=False), "not a tf.function"),
        ("02.4", squash_numpy, "fails inside tf.function"),
        ("02.4", lambda x: x / tf.reduce_max(tf.abs(x)), "squash([0.5, -0.2]) is off"),
        ("02.5", (lambda: "C", counted), "'C' is not why"),
        ("02.5", (lambda: "B", counted_python), "Python in a tf.function runs at trace time only"),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, STUBS, count=5
)


def test_torch_where_is_as_good_as_torch_cond_for_a_graph_that_branches(torch):
    def squash_where(x):
        peak = x.abs().max()
        return torch.where(peak > 1.0, x / peak, x)

    right, _ = answers_torch(torch)
    assert_answers_pass_and_stubs_are_unsolved("pytorch", {**right, "02.4": squash_where}, STUBS, count=5)
