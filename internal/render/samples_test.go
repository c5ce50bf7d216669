package render

// fashionClasses are Fashion-MNIST's class names, by label.
var fashionClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// sampleCurves is ten epochs of a typical Fashion-MNIST softmax run.
var sampleCurves = []EpochPoint{
	{1, 0.785, 0.749, 0.612, 0.781},
	{2, 0.571, 0.811, 0.551, 0.806},
	{3, 0.525, 0.825, 0.531, 0.811},
	{4, 0.501, 0.831, 0.498, 0.826},
	{5, 0.486, 0.836, 0.502, 0.821},
	{6, 0.474, 0.839, 0.482, 0.832},
	{7, 0.465, 0.842, 0.487, 0.828},
	{8, 0.458, 0.845, 0.470, 0.834},
	{9, 0.452, 0.846, 0.475, 0.831},
	{10, 0.447, 0.848, 0.462, 0.836},
}

// sampleConfusion is a plausible Fashion-MNIST confusion matrix of a
// softmax model, 1000 examples a class, with shirts mistaken for T-shirts,
// pullovers and coats.
var sampleConfusion = []int64{
	812, 3, 15, 52, 5, 1, 98, 0, 14, 0,
	4, 948, 3, 33, 6, 0, 4, 0, 2, 0,
	18, 2, 716, 10, 156, 0, 88, 0, 10, 0,
	30, 14, 12, 858, 41, 0, 39, 0, 6, 0,
	0, 1, 108, 36, 790, 0, 60, 0, 5, 0,
	0, 0, 0, 1, 0, 905, 0, 57, 7, 30,
	142, 2, 127, 40, 110, 0, 553, 0, 26, 0,
	0, 0, 0, 0, 0, 33, 0, 930, 1, 36,
	4, 1, 6, 11, 3, 5, 18, 5, 946, 1,
	0, 0, 0, 0, 0, 12, 1, 45, 2, 940,
}
